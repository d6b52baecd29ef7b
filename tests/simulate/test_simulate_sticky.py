"""Requests with sticky keys are drawn exactly as the gateway draws them.

A trace with request ids, sessions or consumers replays each keyed request on
the arm (and shadows) that ``routectl.core.evaluator.decide`` picks for it, so
the counts are whole numbers and equal a per-request loop; keyless requests
count with expected fractions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import policy_from_text, write_policy

from routectl.core.evaluator import decide
from routectl.core.request import Request
from simulate.helpers import simulate, simulate_json

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: alice}
spec: {apiKey: "env:A"}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: bob}
spec: {apiKey: "env:B"}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: m1}
spec: {provider: p, upstreamModel: a, contextWindow: 100000, maxOutputTokens: 4000,
       pricing: {input: 1.0, output: 1.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: m2}
spec: {provider: p, upstreamModel: b, contextWindow: 100000, maxOutputTokens: 4000,
       pricing: {input: 2.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: m3}
spec: {provider: p, upstreamModel: c, contextWindow: 100000, maxOutputTokens: 4000,
       pricing: {input: 3.0, output: 3.0}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: split}
spec:
  strategy: weighted
  targets: [{model: m1, weight: 60}, {model: m2, weight: 40}]
  shadows: [{model: m3, percent: 25}]
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-m3}
spec: {route: split, candidate: m3, percent: 30, stickyBy: session}
"""


def test_keyed_requests_follow_the_gateways_draw(tmp_path: Path):
    write_policy(tmp_path / "policy", POLICY)
    policy = policy_from_text(tmp_path / "oracle", POLICY)
    records = []
    for n in range(500):
        records.append(
            {
                "ts": f"2025-01-31T12:00:{n % 60:02d}Z",
                "request_id": f"req-{n}",
                "session": f"s-{n % 37}",
                "consumer": "alice" if n % 3 else "bob",
                "input_tokens": 100 + n,
                "output_tokens": 10,
            }
        )
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")

    primaries: Counter[str] = Counter()
    shadows: Counter[str] = Counter()
    arms: Counter[tuple[str | None, str | None]] = Counter()
    for r in records:
        decision = decide(
            policy,
            Request(
                consumer=r["consumer"],
                request_id=r["request_id"],
                session=r["session"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
            ),
        )
        primaries[decision.primary] += 1
        shadows.update(decision.shadows)
        if decision.experiment or decision.arm == "candidate":
            arms[(decision.experiment, decision.arm)] += 1

    report = simulate_json(tmp_path / "policy", "--traffic", log)
    assert {m["model"]: m["requests"] for m in report["by_model"]} == dict(primaries)
    assert {s["model"]: s["requests"] for s in report["shadow"]["by_model"]} == dict(shadows)
    assert {(e["experiment"], e["arm"]): e["requests"] for e in report["experiments"]} == dict(arms)
    # Whole numbers: every keyed request went one way.
    assert all(float(m["requests"]).is_integer() for m in report["by_model"])


def test_keyless_requests_count_with_expected_fractions(tmp_path: Path):
    write_policy(tmp_path / "policy", POLICY)
    trace = tmp_path / "t.csv"
    trace.write_text(
        "input_tokens,output_tokens\n" + "\n".join("100,10" for _ in range(1000)), encoding="utf-8"
    )
    report = simulate_json(tmp_path / "policy", "--traffic", trace)
    counts = {m["model"]: m["requests"] for m in report["by_model"]}
    assert counts == {
        "m1": pytest.approx(1000 * 0.7 * 0.6),
        "m2": pytest.approx(1000 * 0.7 * 0.4),
        "m3": pytest.approx(1000 * 0.3),
    }
    assert report["shadow"]["by_model"][0]["requests"] == pytest.approx(1000 * 0.7 * 0.25)


def test_decisions_out_predicts_each_request_as_the_gateway_decides(tmp_path: Path):
    write_policy(tmp_path / "policy", POLICY)
    base_text = POLICY.replace("weight: 60}", "weight: 10}")
    write_policy(tmp_path / "base", base_text)
    head, base = (policy_from_text(tmp_path / n, t) for n, t in (("h", POLICY), ("b", base_text)))
    records = [
        {
            "request_id": f"req-{n}" if n % 9 else None,  # the gateway draws these on ""
            "session": f"s-{n % 13}",
            "consumer": "alice" if n % 3 else "bob",
            "input_tokens": 100 + n,
            "output_tokens": 10,
        }
        for n in range(400)
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    out = tmp_path / "decisions.jsonl"
    simulate_json(tmp_path / "policy", "--base", tmp_path / "base", "--traffic", log,
                  "--decisions-out", out)  # fmt: skip
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(records)
    by_tokens = {r["input_tokens"]: r for r in rows}  # unique per request here
    for r in records:
        row = by_tokens[r["input_tokens"]]
        assert (row["request_id"], row["session"]) == (r["request_id"], r["session"])
        request = Request(
            consumer=r["consumer"], request_id=r["request_id"], session=r["session"],
            input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
        )  # fmt: skip
        for side, policy in (("head", head), ("base", base)):
            decision = decide(policy, request)
            assert row[f"{side}_model"] == decision.primary
            assert row[f"{side}_route"] == decision.route
            assert row[f"{side}_arm"] == decision.arm
            assert row[f"{side}_experiment"] == decision.experiment
            assert row[f"{side}_shadows"] == list(decision.shadows)
            price = policy.models[decision.primary]
            assert row[f"{side}_cost"] == pytest.approx(price.cost(r["input_tokens"], 10))


def test_decisions_out_rejects_an_unknown_format(tmp_path: Path):
    write_policy(tmp_path / "policy", POLICY)
    trace = tmp_path / "t.csv"
    trace.write_text("input_tokens,output_tokens\n1,1\n", encoding="utf-8")
    out = tmp_path / "d.txt"
    result = simulate(tmp_path / "policy", "--traffic", trace, "--decisions-out", out)
    assert result.exit_code == 2
    assert "expected a .parquet or .jsonl file" in result.output
    assert not out.exists()


def test_a_column_null_in_the_sniffed_sample_is_read_further_on(tmp_path: Path):
    """DuckDB sniffs a sample of a JSON log; a field null throughout it still counts later."""
    write_policy(tmp_path / "policy", POLICY)
    log = tmp_path / "log.jsonl"
    with log.open("w", encoding="utf-8") as handle:
        for n in range(25_000):
            consumer = None if n < 24_000 else "alice"
            record = {"input_tokens": 10, "output_tokens": 1, "consumer": consumer}
            handle.write(json.dumps(record) + "\n")
    report = simulate_json(tmp_path / "policy", "--traffic", log)
    assert report["requests"] == 25_000
    assert report["traffic"]["skipped"] == 0
