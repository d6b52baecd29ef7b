"""Grouping by token classes gives exactly what planning every request would.

The replay plans one representative request per group. Here every request of a
random trace is planned on its own with the core evaluator and its expected
shares summed; both must agree on requests and cost per model, to the float.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest
from tests.conftest import policy_from_text, write_policy

from routectl.core.evaluator import plan
from routectl.core.request import Request
from simulate.helpers import simulate_json

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: eu}
spec: {baseUrl: "https://eu.example", jurisdiction: DE, certifications: [gdpr]}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: us}
spec: {baseUrl: "https://us.example", jurisdiction: US}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: pii}
spec: {allow: {jurisdictions: [EU]}}
---
apiVersion: routectl.dev/v1
kind: Classification
metadata: {name: public}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
spec: {default: true}
---
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: code}
spec: {requires: [code]}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: in-cheap}
spec: {provider: us, upstreamModel: a, capabilities: [chat, code], contextWindow: 32000,
       maxOutputTokens: 4000, pricing: {input: 0.1, output: 3.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: out-cheap}
spec: {provider: us, upstreamModel: b, capabilities: [chat], contextWindow: 128000,
       maxOutputTokens: 16000, pricing: {input: 1.5, output: 0.2}, languages: [en, fr]}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: eu-big}
spec: {provider: eu, upstreamModel: c, capabilities: [chat, code], contextWindow: 200000,
       maxOutputTokens: 8000, pricing: {input: 0.8, output: 0.9}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: eu-small}
spec: {provider: eu, upstreamModel: d, capabilities: [chat], contextWindow: 8000,
       maxOutputTokens: 2000, pricing: {input: 0.05, output: 0.05}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code}
spec:
  order: 10
  match: {intents: [code]}
  strategy: weighted
  targets: [{model: in-cheap, weight: 3}, {model: eu-big, weight: 1}]
  fallback: {chain: [eu-small]}
  shadows: [{model: out-cheap, percent: 10}]
  constraints: {maxCostPerRequest: 0.02}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: cheapest}
spec:
  order: 20
  strategy: cheapest
  targets: [{model: in-cheap}, {model: out-cheap}, {model: eu-big}, {model: eu-small}]
  constraints: {maxCostPerRequest: 0.05}
---
apiVersion: routectl.dev/v1
kind: Experiment
metadata: {name: try-eu}
spec: {route: cheapest, candidate: eu-big, percent: 15}
"""


def trace(path: Path, seed: int, rows: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        records.append(
            {
                "intent": rng.choice(["chat", "code", ""]),
                "classification": rng.choice(["pii", "public", ""]),
                "language": rng.choice(["en", "de", ""]),
                # Wide ranges, biased to the thresholds the policy has.
                "input_tokens": str(
                    int(rng.choice([rng.uniform(0, 9000), rng.uniform(0, 250000)]))
                ),
                "output_tokens": str(
                    int(rng.choice([rng.uniform(0, 2500), rng.uniform(0, 20000)]))
                ),
            }
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return records


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_replay_equals_planning_every_request(tmp_path, seed):
    records = trace(tmp_path / "trace.csv", seed, 3000)
    write_policy(tmp_path / "policy", POLICY)
    policy = policy_from_text(tmp_path / "oracle", POLICY)

    requests: dict[str, float] = defaultdict(float)
    costs: dict[str, float] = defaultdict(float)
    shadow: dict[str, float] = defaultdict(float)
    unroutable = 0.0
    for record in records:
        request = Request(
            intent=record["intent"] or None,
            classification=record["classification"] or None,
            language=record["language"] or None,
            input_tokens=int(record["input_tokens"]),
            output_tokens=int(record["output_tokens"]),
        )
        route_plan = plan(policy, request)
        if not route_plan.routable:
            unroutable += 1
            continue
        rest = 1.0 - (route_plan.experiment.fraction if route_plan.experiment else 0.0)
        arms = [(arm, rest * arm.fraction) for arm in route_plan.arms]
        if route_plan.experiment:
            arms.append((route_plan.experiment, route_plan.experiment.fraction))
        for arm, share in arms:
            requests[arm.primary] += share
            costs[arm.primary] += share * policy.models[arm.primary].cost(
                request.input_tokens, request.output_tokens
            )
            for target in route_plan.shadows:
                if target.model != arm.primary:
                    shadow[target.model] += share * target.fraction

    report = simulate_json(tmp_path / "policy", "--traffic", tmp_path / "trace.csv")
    assert report["traffic"]["groups_planned"] < len(records) / 2  # fewer plans than requests
    assert report["unroutable"]["count"] == pytest.approx(unroutable)
    got = {m["model"]: (m["requests"], m["cost"]) for m in report["by_model"]}
    assert set(got) == {m for m, n in requests.items() if n > 0}
    for model, (n, cost) in got.items():
        assert n == pytest.approx(requests[model], rel=1e-9), model
        assert cost == pytest.approx(costs[model], rel=1e-9), model
    got_shadow = {s["model"]: s["requests"] for s in report["shadow"]["by_model"]}
    assert got_shadow == pytest.approx(dict(shadow), rel=1e-9)
    arms = {(e["experiment"], e["arm"]): e["requests"] for e in report["experiments"]}
    assert ("try-eu", "candidate") in arms


TIES = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: a-dear}
spec: {provider: p, upstreamModel: a, contextWindow: 3000, maxOutputTokens: 3000,
       pricing: {input: 2.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: b-twin}
spec: {provider: p, upstreamModel: b, contextWindow: 2000, maxOutputTokens: 2000,
       pricing: {input: 1.0, output: 1.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: c-cheap}
spec: {provider: p, upstreamModel: c, contextWindow: 1000, maxOutputTokens: 1000,
       pricing: {input: 1.0, output: 1.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: d-cross}
spec: {provider: p, upstreamModel: d, contextWindow: 3000, maxOutputTokens: 3000,
       pricing: {input: 0.5, output: 3.0}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: cheapest}
spec:
  strategy: cheapest
  targets: [TARGETS]
"""


@pytest.mark.parametrize(
    "targets",
    [
        "{model: a-dear}, {model: b-twin}, {model: c-cheap}, {model: d-cross}",
        "{model: a-dear}, {model: b-twin}, {model: c-cheap}",  # nothing else marks a tie
    ],
)
def test_token_conditions_separate_every_plan_at_ties_and_limits(tmp_path, targets):
    # Costs tie at zero tokens, where a-dear wins by name though it costs more
    # everywhere else; b-twin and c-cheap always tie; d-cross crosses them all; three
    # context windows bound the same form. Requests that agree on every condition
    # must get the same plan, at the limits and at the ties too.
    import duckdb

    from routectl.simulate.token_classes import conditions

    policy = policy_from_text(tmp_path / "p", TIES.replace("TARGETS", targets))
    conds = conditions([policy])
    edges = [0, 1, 2, 999, 1000, 1001, 1999, 2000, 2001, 2999, 3000, 3001]
    pairs = [(i, o) for i in edges for o in edges]
    values = ", ".join(f"({i}, {o})" for i, o in pairs)
    columns = ", ".join(f"({c.sql})::TINYINT" for c in conds)
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT input_tokens, output_tokens, {columns} "
            f"FROM (VALUES {values}) AS t(input_tokens, output_tokens)"
        )
        .fetchall()
    )
    plans: dict[tuple, set] = defaultdict(set)
    for i, o, *key in rows:
        route_plan = plan(policy, Request(input_tokens=i, output_tokens=o))
        shape = tuple((arm.primary, arm.fallbacks) for arm in route_plan.arms)
        plans[tuple(key)].add((route_plan.routable, shape))
    assert all(len(found) == 1 for found in plans.values()), plans
    assert len({shape for found in plans.values() for shape in found}) > 3
    # One count for the three windows; no sign for the twins, one for a-dear's ties.
    assert len(conds) <= 6, [c.sql for c in conds]
