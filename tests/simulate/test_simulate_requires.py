"""A request's needs and its pinned model, read from traffic columns, route as in explain."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import write_policy

from simulate.helpers import simulate_json

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: text}
spec: {provider: p, upstreamModel: t, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 1.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: seer}
spec: {provider: p, upstreamModel: s, capabilities: [chat, vision, tools],
       contextWindow: 200000, maxOutputTokens: 8000, pricing: {input: 5.0, output: 5.0}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: any}
spec: {strategy: cheapest, targets: [{model: text}, {model: seer}]}
"""

# (requires, requested_model) per request; 10 requests each
NEEDS = [
    (None, None),  # text
    (["vision"], None),  # seer: the cheaper model cannot see
    (["tools", "vision"], None),  # seer
]
PINS = [
    (None, "eyes"),  # seer, by its alias
    (None, "text"),  # text, by its name
    (None, "ghost"),  # unroutable: unknown model
]


def records(cases=NEEDS) -> list[dict]:
    out = []
    for requires, model in cases:
        for n in range(10):
            out.append(
                {
                    "input_tokens": 1000 + n,
                    "output_tokens": 100,
                    "requires": requires,
                    "requested_model": model,
                }
            )
    return out


def write_jsonl(path: Path, cases=NEEDS) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records(cases)), encoding="utf-8")
    return path


def write_csv(path: Path, cases=NEEDS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["input_tokens", "output_tokens", "requires", "requested_model"])
        for r in records(cases):
            writer.writerow(
                [r["input_tokens"], r["output_tokens"], ",".join(r["requires"] or []),
                 r["requested_model"] or ""]
            )  # fmt: skip
    return path


def write_parquet(path: Path, cases=NEEDS) -> Path:
    pq.write_table(pa.Table.from_pylist(records(cases)), path)
    return path


WRITERS = {write_jsonl: ".jsonl", write_csv: ".csv", write_parquet: ".parquet"}


@pytest.mark.parametrize("write", list(WRITERS))
def test_a_requests_needs_from_its_column_keep_it_off_models_that_lack_them(tmp_path, write):
    write_policy(tmp_path / "policy", POLICY)
    traffic = write(tmp_path / f"traffic{WRITERS[write]}")
    report = simulate_json(tmp_path / "policy", "--traffic", traffic)
    models = {m["model"]: m["requests"] for m in report["by_model"]}
    assert models == {"text": 10, "seer": 20}


@pytest.mark.parametrize("write", list(WRITERS))
def test_a_pinned_model_column_pins_by_name_or_alias_and_refuses_unknown_names(tmp_path, write):
    aliased = POLICY.replace("upstreamModel: s,", "upstreamModel: s, aliases: [eyes],")
    write_policy(tmp_path / "policy", aliased)
    traffic = write(tmp_path / f"traffic{WRITERS[write]}", PINS)
    report = simulate_json(tmp_path / "policy", "--traffic", traffic)
    models = {m["model"]: m["requests"] for m in report["by_model"]}
    assert models == {"text": 10, "seer": 10}
    assert report["unroutable"]["count"] == 10
    (reason,) = report["unroutable"]["reasons"]
    assert reason["reason"] == "unknown model 'ghost'"
