"""Cascades in a replay: expected escalations, what they cost, and the last model's cost.

A trace records no answers, so whether a step's answer would fail its checks
is a rate: the share of a model's answers the gateway escalated. It is
*measured* from gateway decision logs (``--escalation-log``: per model,
escalated / (escalated + accepted) over the logged cascade steps) or
*declared* on the route (``cascade.escalationRates``, an assumption); a
measured rate wins, and a model with neither escalates never (the report
says so).

With steps ``s1..sn`` and rates ``e1..en`` a leg's requests are answered by
``s_k`` with share ``e1 ... e_{k-1} (1 - e_k)`` (the last model keeps
what reaches it), and every step before the answering one was called and paid
for (outcome kind ``escalated``, same tokens as the request: a rejected answer
is charged like an accepted one). Each cascade leg also records what the
route would cost if every request went straight to its last model (kind
``cascade-last``), which the report sets beside the cascade's cost.

Rate limits: in minutes where a limit binds, a cascade leg is simulated like
any chain (first available model); the expansion applies to the other minutes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from routectl.core.policy import Policy

ESCALATED = "escalated"
LAST = "cascade-last"


@dataclass(frozen=True)
class MeasuredRates:
    rates: dict[str, float]  # model -> escalation rate
    steps: dict[str, int]  # model -> logged steps the rate is measured on
    source: str


class EscalationLogError(Exception):
    """An escalation log that cannot be read (the message says where)."""


def measure(paths: Iterable[Path]) -> MeasuredRates:
    """Per-model escalation rates from gateway decision logs (JSON lines with ``cascade``)."""
    escalated: dict[str, int] = defaultdict(int)
    judged: dict[str, int] = defaultdict(int)
    names = []
    for path in paths:
        names.append(str(path))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EscalationLogError(f"{path}: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise EscalationLogError(f"{path}:{number}: not JSON ({exc})") from None
            for step in record.get("cascade") or ():
                verdict, model = step.get("verdict"), step.get("model")
                if verdict in ("escalated", "accepted") and isinstance(model, str):
                    judged[model] += 1
                    escalated[model] += verdict == "escalated"
    return MeasuredRates(
        {model: escalated[model] / n for model, n in judged.items()}, dict(judged), ", ".join(names)
    )


def route_rates(
    policy: Policy, route: str | None, measured: MeasuredRates | None
) -> dict[str, tuple[float, str]] | None:
    """model -> (rate, where it comes from) for a cascade route; None for other routes."""
    info = policy.routes_by_name.get(route or "")
    if info is None or info.cascade is None:
        return None
    out = {model: (rate, "declared") for model, rate in info.cascade.escalation_rates}
    if measured is not None:
        for model, rate in measured.rates.items():
            out[model] = (rate, "measured")
    return out


def expand(
    steps: tuple[str, ...], rates: dict[str, tuple[float, str]], weight: float
) -> list[tuple[str, str, float]]:
    """(kind, model, share) rows of one cascade leg of ``weight``."""
    rows: list[tuple[str, str, float]] = []
    reach = weight
    for index, model in enumerate(steps):
        if index == len(steps) - 1:
            rows.append(("served", model, reach))
            break
        rate = rates.get(model, (0.0, ""))[0]
        if reach * (1.0 - rate) > 0:
            rows.append(("served", model, reach * (1.0 - rate)))
        if reach * rate <= 0:
            break
        rows.append((ESCALATED, model, reach * rate))
        reach *= rate
    rows.append((LAST, steps[-1], weight))
    return rows


def summary(
    policy: Policy, rows: list[tuple], measured: MeasuredRates | None
) -> dict[str, object] | None:
    """The report's ``cascade`` section from one side's outcome rows, or None without cascades.

    ``rows`` are the replay's aggregated outcomes
    (side, kind, model, reason, route, intent, arm, experiment, n, tin, tout).
    """
    routes: dict[str, dict[str, float]] = defaultdict(
        lambda: {"requests": 0.0, "cost": 0.0, "escalated_calls": 0.0, "last_model_cost": 0.0}
    )
    quality: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for _, kind, model, _, route, intent, _, _, n, tin, tout in rows:
        info = policy.routes_by_name.get(route or "")
        if info is None or info.cascade is None or model is None:
            continue
        cost = policy.models[model].cost(tin, tout)
        acc = routes[route]
        score = policy.models[model].quality_for(intent)
        if kind == "served":
            acc["requests"] += n
            acc["cost"] += cost
            if score is not None:
                quality[route][0] += n * score[0]
                quality[route][1] += n
        elif kind == ESCALATED:
            acc["escalated_calls"] += n
            acc["cost"] += cost
        elif kind == LAST:
            acc["last_model_cost"] += cost
            if score is not None:
                quality[route][2] += n * score[0]
                quality[route][3] += n
    if not routes:
        return None
    out = []
    for name, acc in sorted(routes.items()):
        rates = route_rates(policy, name, measured) or {}
        chain = _chain_models(policy, name)
        last = acc["last_model_cost"]
        out.append(
            {
                "route": name,
                **acc,
                "saving_percent": 100.0 * (last - acc["cost"]) / last if last else None,
                # predicted from the answering models' scores; the cascade's checks may
                # do better than its first model's score (they reject its worst answers)
                "quality": _ratio(quality[name][0], quality[name][1]),
                "last_model_quality": _ratio(quality[name][2], quality[name][3]),
                "rates": [
                    {
                        "model": model,
                        "rate": rates.get(model, (0.0, "none: assumed 0"))[0],
                        "source": rates.get(model, (0.0, "none: assumed 0"))[1],
                    }
                    for model in chain[:-1]
                ],
            }
        )
    return {
        "routes": out,
        "cost": sum(r["cost"] for r in out),
        "last_model_cost": sum(r["last_model_cost"] for r in out),
        "measured_from": measured.source if measured else None,
    }


def _ratio(total: float, count: float) -> float | None:
    return total / count if count else None


def _chain_models(policy: Policy, route: str) -> list[str]:
    info = policy.routes_by_name[route]
    names = [n for group in info.targets for n in group.models[:1]]
    return list(dict.fromkeys([*names, *info.fallback_chain]))


def quality(policy: Policy, rows: list[tuple]) -> dict[str, object]:
    """Predicted quality: the mean of the answering models' scores for each request's intent."""
    total = covered = 0.0
    for _, kind, model, _, _, intent, _, _, n, _, _ in rows:
        if kind != "served" or model is None:
            continue
        found = policy.models[model].quality_for(intent)
        if found is not None:
            total += n * found[0]
            covered += n
    return {"mean": total / covered if covered else None, "covered_requests": covered}
