"""Turn a replay's aggregated outcomes into the report every format prints.

The report is one plain dict (the ``json`` format, ``format_version`` 1); text
and markdown render the same dict, so the numbers agree across formats. Field
reference: docs/simulate.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from routectl.core.policy import Policy
from routectl.simulate import cascade
from routectl.simulate.engine import Replay

FORMAT_VERSION = 1
UNROUTABLE = "unroutable"
FAILED_KINDS = ("unroutable", "outage", "rate_limited")


@dataclass
class PolicySource:
    path: str
    revision: str | None
    dirty: bool | None = None  # working tree differs from the revision (None: not git)
    prices: dict[str, str | None] = field(default_factory=dict)  # model -> pricing.source


@dataclass
class Gates:
    max_cost_increase: float | None = None
    fail_on_unroutable: bool = False
    max_shift: float | None = None


def build(
    replay: Replay,
    policies: dict[str, Policy],
    sources: dict[str, PolicySource],
    scenario: dict[str, Any],
    gates: Gates,
    escalation: cascade.MeasuredRates | None = None,
) -> dict[str, Any]:
    head = _figures(replay, "head", policies["head"], escalation)
    report: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "requests": replay.requests,
        "input_tokens": replay.input_tokens,
        "output_tokens": replay.output_tokens,
        **head,
        "policy": {side: _source(sources[side], policies[side]) for side in policies},
        "traffic": {
            "files": [
                {"path": f.path, "sha256": f.sha256, "requests": f.requests, "skipped": f.skipped}
                for f in replay.files
            ],
            "skipped": replay.skipped,
            "errors": [str(e) for e in replay.skipped_errors],
            "start": _iso(replay.time_span[0]),
            "end": _iso(replay.time_span[1]),
            "groups_planned": replay.groups,
            "token_conditions": replay.token_conditions,
        },
        "scenario": {
            **scenario,
            "rate_limits": replay.rate_limits,
            "rate_limited_minutes": replay.limited_minutes,
        },
        "fractional_counts": (
            "requests with sticky keys are drawn as the gateway draws them; splits of "
            "keyless requests count with their expected fractions, rounded only for display"
        ),
    }
    if "head" in replay.budgets:
        report["budgets"] = replay.budgets["head"]
    if "base" in policies:
        base = _figures(replay, "base", policies["base"], escalation)
        if "base" in replay.budgets:
            base["budgets"] = replay.budgets["base"]
        report["base"] = base
        report["delta"] = _delta(base, head)
        report["shift"] = [
            {"from": a, "to": b, "requests": n} for a, b, n in replay.shift if n > 1e-9
        ]
        moved = sum(n for a, b, n in replay.shift if a != b)
        report["shifted"] = {
            "requests": moved,
            "percent": 100.0 * moved / replay.requests if replay.requests else 0.0,
        }
    report["gates"] = _gates(report, gates)
    return report


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


def _source(source: PolicySource, policy: Policy) -> dict[str, Any]:
    return {
        "path": source.path,
        "revision": source.revision,
        "dirty": source.dirty,
        "prices": [
            {
                "model": name,
                "input_per_mtok": model.price_input,
                "output_per_mtok": model.price_output,
                "source": source.prices.get(name),
            }
            for name, model in sorted(policy.models.items())
        ],
    }


def _figures(
    replay: Replay, side: str, policy: Policy, escalation: cascade.MeasuredRates | None = None
) -> dict[str, Any]:
    rows = [r for r in replay.outcomes if r[0] == side]
    cascades = cascade.summary(policy, rows, escalation)
    escalated = [r for r in rows if r[1] == cascade.ESCALATED]
    rows = [r for r in rows if r[1] not in (cascade.ESCALATED, cascade.LAST)]
    total = replay.requests
    by_model: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    unroutable: dict[tuple[str, str], float] = defaultdict(float)
    dims: dict[str, dict[str, list[float]]] = {
        k: defaultdict(lambda: [0.0, 0.0])
        for k in ("provider", "jurisdiction", "tier", "intent", "route")
    }
    shadow: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    arms: dict[tuple[str, str], float] = defaultdict(float)
    for _, kind, model, reason, route, intent, arm, experiment, n, tin, tout in rows:
        if kind == "shadow":
            acc = shadow[model]
            acc[0] += n
            acc[1] += tin
            acc[2] += tout
            continue
        if experiment is not None or arm == "candidate":
            arms[(experiment, arm)] += n
        if kind != "served":
            unroutable[(kind, reason or kind)] += n
            for key, value in (("intent", intent or "(none)"), ("route", route or "(none)")):
                dims[key][value][0] += n
            continue
        info = policy.models[model]
        cost = info.cost(tin, tout)
        acc = by_model[model]
        acc[0] += n
        acc[1] += tin
        acc[2] += tout
        for key, value in (
            ("provider", info.provider),
            ("jurisdiction", info.jurisdiction),
            ("tier", info.tier or "(none)"),
            ("intent", intent or "(none)"),
            ("route", route or "(none)"),
        ):
            dims[key][value][0] += n
            dims[key][value][1] += cost
    # Rejected cascade answers were paid for: their model's cost, route's and intent's.
    escalated_calls: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for _, _, model, _, route, intent, _, _, n, tin, tout in escalated:
        cost = policy.models[model].cost(tin, tout)
        escalated_calls[model][0] += n
        escalated_calls[model][1] += cost
        by_model.setdefault(model, [0.0, 0.0, 0.0])
        dims["intent"][intent or "(none)"][1] += cost
        dims["route"][route or "(none)"][1] += cost
    escalated_cost = sum(cost for _, cost in escalated_calls.values())
    models = []
    for name, (n, tin, tout) in sorted(by_model.items(), key=lambda kv: (-kv[1][0], kv[0])):
        info = policy.models[name]
        models.append(
            {
                "model": name,
                "provider": info.provider,
                "jurisdiction": info.jurisdiction,
                "tier": info.tier,
                "requests": n,
                "share": n / total if total else 0.0,
                "input_tokens": tin,
                "output_tokens": tout,
                "cost": info.cost(tin, tout) + escalated_calls.get(name, (0.0, 0.0))[1],
                "escalated_calls": escalated_calls.get(name, (0.0, 0.0))[0],
                "latency_ms": info.latency_ms(tout / n) if n else None,
            }
        )
    served_cost = sum(m["cost"] for m in models)  # escalated calls included
    shadow_models = [
        {
            "model": name,
            "requests": n,
            "input_tokens": tin,
            "output_tokens": tout,
            "cost": policy.models[name].cost(tin, tout),
        }
        for name, (n, tin, tout) in sorted(shadow.items())
    ]
    timed = [(m["requests"], m["latency_ms"]) for m in models if m["latency_ms"] is not None]
    timed_requests = sum(n for n, _ in timed)
    unroutable_count = sum(unroutable.values())
    figures: dict[str, Any] = {
        "cost": {
            "total": served_cost,
            "shadow": sum(s["cost"] for s in shadow_models),
            "currency": "USD",
        },
        "unroutable": {
            "count": unroutable_count,
            "share": unroutable_count / total if total else 0.0,
            "reasons": [
                {"kind": kind, "reason": reason, "requests": n}
                for (kind, reason), n in sorted(unroutable.items(), key=lambda kv: -kv[1])
            ],
        },
        "by_model": models,
    }
    for key, values in dims.items():
        figures[f"by_{key}"] = [
            {"name": name, "requests": n, "share": n / total if total else 0.0, "cost": cost}
            for name, (n, cost) in sorted(values.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ]
    figures["shadow"] = {"cost": figures["cost"]["shadow"], "by_model": shadow_models}
    figures["cost"]["escalated"] = escalated_cost  # rejected cascade answers, in the total
    prompts, detection_cost = replay.detection.get(side, (0, 0.0))
    figures["cost"]["detection"] = detection_cost  # an llm encoder's calls, in the total
    figures["cost"]["total"] += detection_cost
    figures["detection"] = {"prompts": prompts, "cost": detection_cost} if prompts else None
    figures["cascade"] = cascades
    figures["quality"] = cascade.quality(policy, rows)
    figures["experiments"] = [
        {"experiment": exp, "arm": arm, "requests": n}
        for (exp, arm), n in sorted(arms.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]
    figures["latency_ms"] = {
        "mean": (sum(n * lat for n, lat in timed) / timed_requests) if timed_requests else None,
        "covered_requests": timed_requests,
    }
    return figures


def _delta(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    before = base["cost"]["total"]
    after = head["cost"]["total"]
    models: dict[str, dict[str, float]] = defaultdict(
        lambda: {"base_requests": 0.0, "head_requests": 0.0, "base_cost": 0.0, "head_cost": 0.0}
    )
    for side, figures in (("base", base), ("head", head)):
        for entry in figures["by_model"]:
            models[entry["model"]][f"{side}_requests"] += entry["requests"]
            models[entry["model"]][f"{side}_cost"] += entry["cost"]
    return {
        "cost": {
            "base": before,
            "head": after,
            "absolute": after - before,
            "percent": (100.0 * (after - before) / before) if before else None,
        },
        "shadow_cost": {
            "base": base["cost"]["shadow"],
            "head": head["cost"]["shadow"],
            "absolute": head["cost"]["shadow"] - base["cost"]["shadow"],
        },
        "unroutable": head["unroutable"]["count"] - base["unroutable"]["count"],
        "quality": {"base": base["quality"]["mean"], "head": head["quality"]["mean"]},
        "by_model": [
            {"model": name, **values, "cost_delta": values["head_cost"] - values["base_cost"]}
            for name, values in sorted(
                models.items(), key=lambda kv: -abs(kv[1]["head_cost"] - kv[1]["base_cost"])
            )
        ],
    }


def _gates(report: dict[str, Any], gates: Gates) -> list[dict[str, Any]]:
    out = []
    if gates.max_cost_increase is not None:
        cost = report["delta"]["cost"]
        percent = cost["percent"]
        if percent is None:  # free base: any cost at all is an unbounded increase
            percent = 0.0 if cost["head"] <= 0 else float("inf")
        out.append(
            {
                "gate": "max-cost-increase",
                "limit_percent": gates.max_cost_increase,
                "value_percent": percent,
                "passed": percent <= gates.max_cost_increase,
            }
        )
    if gates.fail_on_unroutable:
        count = report["unroutable"]["count"]
        out.append(
            {"gate": "fail-on-unroutable", "limit": 0, "value": count, "passed": count < 1e-9}
        )
    if gates.max_shift is not None:
        percent = report["shifted"]["percent"]
        out.append(
            {
                "gate": "max-shift",
                "limit_percent": gates.max_shift,
                "value_percent": percent,
                "passed": percent <= gates.max_shift + 1e-9,
            }
        )
    return out
