"""Budgets and consumer rate limits over the trace's own clock.

The state of a consumer's budgets depends on everything it spent before, so it
cannot be grouped away like the other features. Before grouping, the requests
of consumers that have a budget or ``rateLimits`` are replayed one by one in
timestamp order, exactly as the gateway meters them (:mod:`routectl.gateway.limits`):

- rate limits in fixed one-minute windows: a request over ``rpm`` (counting
  the refused ones too), or arriving when the minute's tokens have reached
  ``tpm``, is refused (429, ``rate_limited``) and charged nothing;
- otherwise its budget state is worked out from the spend so far
  (:func:`routectl.core.budgets.budget_state`), the core evaluator decides with
  that state, and the decided primary's list price for the recorded tokens
  (cached input as cached) is charged to each of the consumer's budgets in the
  bucket of the request's timestamp; shadow copies only when the budget says
  ``chargeShadows``.

A threshold applies from the request *after* the one whose cost reaches it,
as on the gateway. The pass yields, per consumer, intervals of time with one
state each; the scan turns them into one more grouping key (``b<side>``), so
the replay plans each (group, state) once with that state, and its cost,
models, downgrades and blocks land in the ordinary report. It also reports
each crossing: which request crossed which threshold, when, and what followed.

The replay assumes the primary answers (as for budgets it must: the gateway
charges the model that answered). Requests sharing one timestamp with a
crossing are all given the state before it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from routectl.core.budgets import budget_state, charge_cost, spend_in_window, window
from routectl.core.evaluator import decide
from routectl.core.policy import ConsumerInfo, Policy
from routectl.core.request import BudgetState, Request, RoutePlan, TraceStep

LIMITED = "limited"  # a code's state: refused by the consumer's rate limit


class SpendError(Exception):
    """A starting spend that cannot be read (the message says where and why)."""


# The scan's normalised columns the pass reads (the Spark engine sends only these).
COLUMNS = (
    "consumer", "ts", "intent", "classification", "language", "metadata", "input_tokens",
    "output_tokens", "request_id", "session", "requires", "requested_model",
)  # fmt: skip


def metered(policy: Policy) -> dict[str, ConsumerInfo]:
    """The consumers whose requests the budget pass replays: a budget or a rate limit."""
    return {n: c for n, c in policy.consumers.items() if c.budgets or c.rpm or c.tpm}


def has_budgets(policy: Policy) -> bool:
    return bool(metered(policy))


@dataclass
class Crossing:
    consumer: str
    budget: str
    threshold: float
    action: str
    request_id: str | None
    ts: str
    index: int  # the consumer's n-th request in the trace (1-based)
    spent_usd: float  # after this request


@dataclass
class ConsumerSummary:
    requests: int = 0
    cost: float = 0.0  # charged to the consumer's own budget line
    downgraded: int = 0
    blocked: int = 0
    rate_limited: int = 0
    first_downgraded: str | None = None  # request id
    first_blocked: str | None = None


@dataclass
class SidePass:
    """One policy's pass: a state per code, the SQL that gives each row its code."""

    states: list[BudgetState | str | None]  # code -> state (0: none)
    case_sql: str
    crossings: list[Crossing] = field(default_factory=list)
    consumers: dict[str, ConsumerSummary] = field(default_factory=dict)


def read_spend(source: str, token: str | None = None) -> dict[str, float]:
    """Starting spend by budget key, from a JSON file or a gateway's ``/admin/v1/spend``.

    Accepted shapes: ``{"consumer/app": 12.5, "team/web": 40}`` or the admin API's
    answer ``{"budgets": [{"budget": "consumer/app", "spentUsd": 12.5}, ...]}``.
    """
    try:
        if source.startswith(("http://", "https://")):
            import urllib.request  # only here: ssl and http cost every replay's start-up

            url = (
                source
                if source.rstrip("/").endswith("/spend")
                else source.rstrip("/") + ("/admin/v1/spend")
            )
            request = urllib.request.Request(url)
            if token:
                request.add_header("authorization", f"Bearer {token}")
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                data = json.loads(response.read())
        else:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpendError(f"--spend {source}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("budgets"), list):
        data = {row.get("budget"): row.get("spentUsd") for row in data["budgets"]}
    if not isinstance(data, dict):
        raise SpendError(f"--spend {source}: expected an object of budget -> USD")
    out: dict[str, float] = {}
    for key, value in data.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            raise SpendError(f"--spend {source}: {key!r} must map to a number of USD")
        if value < 0:
            raise SpendError(f"--spend {source}: {key} is negative")
        out[key] = float(value)
    return out


def limited_plan(request: Request, consumer: ConsumerInfo, unit: str) -> RoutePlan:
    """The plan of a request refused by its consumer's rate limit (kind ``rate_limited``)."""
    limit = consumer.rpm if unit == "rpm" else consumer.tpm
    reason = f"consumer {consumer.name} is over its rate limit of {limit} {unit}"
    return RoutePlan(
        intent=request.intent,
        classification=request.classification,
        route=None,
        arms=(),
        experiment=None,
        experiment_sticky_by=None,
        route_sticky_by="request_id",
        shadows=(),
        triggers=frozenset(),
        trace=(TraceStep("consumer.rate_limited", "{}", (reason,)),),
        unroutable_reason=reason,
    )


def _boundaries(policy: Policy) -> list[float]:
    """The used shares at which some route's budget match changes."""
    found = set()
    for route in policy.routes:
        for bound in (route.budget_above, route.budget_at_most):
            if bound is not None:
                found.add(bound)
    return sorted(found)


def run_pass(
    con: duckdb.DuckDBPyConnection,
    rows_sql: str,
    policy: Policy,
    starting: Mapping[str, float],
    present: set[str],
) -> SidePass:
    """Replay the budgeted consumers' requests of ``rows_sql`` (good rows, the scan's
    normalised columns) in time order; ``present``: the features the traffic gives."""
    budgeted = metered(policy)
    if "consumer" not in present or "timestamp" not in present:
        budgeted = {}  # no request names a consumer, or none says when it came
    names = ", ".join("'" + n.replace("'", "''") + "'" for n in sorted(budgeted))
    iso = "strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')"
    rows: Iterator[tuple[Any, ...]] = iter(())
    if budgeted:
        # Cached input is not a traffic feature: every request is charged at full price.
        cursor = con.execute(
            f"""
            SELECT consumer, epoch_us(ts), intent, classification, language, metadata,
                   input_tokens, output_tokens, request_id, session, 0, {iso},
                   requires, requested_model
            FROM ({rows_sql})
            WHERE consumer IN ({names}) AND ts IS NOT NULL
            ORDER BY ts
            """
        )
        rows = _streamed(cursor)  # a batch at a time: memory stays flat with the rows
    bounds = _boundaries(policy)
    buckets: dict[str, float] = {}
    first_row = next(rows, None)
    if first_row is not None:
        rows = itertools.chain([first_row], rows)
        first = first_row[1] / 1e6
        for budget in policy.budgets.values():
            if starting.get(budget.key):
                bucket = window(budget, first).charge
                buckets[bucket] = buckets.get(bucket, 0.0) + starting[budget.key]
    requests_in_minute: dict[tuple[str, int], int] = {}
    tokens_in_minute: dict[tuple[str, int], float] = {}
    states: list[BudgetState | str | None] = [None]
    codes: dict[Any, int] = {None: 0}
    intervals: dict[str, list[tuple[int, int]]] = {}  # consumer -> [(start_us, code)]
    result = SidePass(states, "0")
    for row in rows:
        consumer_name, ts_us, intent, cls, lang, meta, tin, tout, rid, session, ctok, iso = row[:12]
        requires, requested_model = row[12:]
        consumer = budgeted[consumer_name]
        now = ts_us / 1e6
        summary = result.consumers.setdefault(consumer_name, ConsumerSummary())
        summary.requests += 1
        minute = int(now // 60)
        key = None
        count = requests_in_minute[(consumer_name, minute)] = (
            requests_in_minute.get((consumer_name, minute), 0) + 1
        )
        state: BudgetState | None = None
        if consumer.rpm and count > consumer.rpm:
            key = (LIMITED, "rpm")
        elif consumer.tpm and tokens_in_minute.get((consumer_name, minute), 0.0) >= consumer.tpm:
            key = (LIMITED, "tpm")
        elif consumer.budgets:
            spent = {b.key: spend_in_window(b, now, buckets) for b in consumer.budgets}
            state = budget_state(consumer.budgets, spent)
            band = sum(1 for b in bounds if state.used > b)
            key = (state.action, state.budget, state.threshold, state.tier, state.route, band)
            if key == (None, None, None, None, None, 0) and not bounds:
                key = None
        code = codes.get(key)
        if code is None:
            code = codes[key] = len(states)
            states.append(LIMITED + ":" + key[1] if key and key[0] == LIMITED else state)
        spans = intervals.setdefault(consumer_name, [])
        if not spans or spans[-1][1] != code:
            spans.append((ts_us, code))
        if key is not None and key[0] == LIMITED:
            summary.rate_limited += 1
            continue
        metadata = {}
        if meta:
            metadata = {str(k): str(v) for k, v in json.loads(meta).items() if v is not None}
        request = Request(
            intent=intent,
            classification=cls,
            language=lang,
            consumer=consumer_name,
            input_tokens=int(tin),
            output_tokens=int(tout),
            metadata=metadata,
            request_id=rid,
            session=session,
            requires=frozenset(requires.split(",")) if requires else frozenset(),
            model=requested_model,
            budget=state,
        )
        decision = decide(policy, request)
        if state is not None and state.action == "block":
            summary.blocked += 1
            summary.first_blocked = summary.first_blocked or rid
        elif state is not None and state.action == "downgrade":
            summary.downgraded += 1
            summary.first_downgraded = summary.first_downgraded or rid
        if not decision.routable:
            continue
        if consumer.tpm:
            tokens_in_minute[(consumer_name, minute)] = (
                tokens_in_minute.get((consumer_name, minute), 0.0) + int(tin) + int(tout)
            )
        if not consumer.budgets:
            continue
        model = policy.models[decision.primary]
        cost = charge_cost(
            model.price_input,
            model.price_output,
            model.price_cached_input,
            int(tin),
            int(tout),
            int(ctok or 0),
        )
        summary.cost += cost
        before = {b.key: spend_in_window(b, now, buckets) for b in consumer.budgets}
        for budget in consumer.budgets:
            charge = cost
            if budget.charge_shadows:
                for shadow in decision.shadows:
                    info = policy.models[shadow]
                    charge += charge_cost(
                        info.price_input,
                        info.price_output,
                        info.price_cached_input,
                        int(tin),
                        int(tout),
                        int(ctok or 0),
                    )
            bucket = window(budget, now).charge
            buckets[bucket] = buckets.get(bucket, 0.0) + charge
            after = before[budget.key] + charge
            for threshold in budget.thresholds:
                limit = threshold.fraction * budget.amount_usd
                if before[budget.key] < limit <= after:
                    result.crossings.append(
                        Crossing(
                            consumer_name,
                            budget.key,
                            threshold.fraction,
                            threshold.action,
                            rid,
                            iso,
                            summary.requests,
                            after,
                        )
                    )
    result.case_sql = _case_sql(intervals)
    return result


def _streamed(cursor: duckdb.DuckDBPyConnection, size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(size):
        yield from batch


def _case_sql(intervals: Mapping[str, list[tuple[int, int]]]) -> str:
    """Each row's code from its consumer and timestamp."""
    arms = []
    for consumer, spans in sorted(intervals.items()):
        name = "'" + consumer.replace("'", "''") + "'"
        for (start, code), following in zip(spans, [*spans[1:], None], strict=True):
            if code == 0:
                continue
            # {micros}: the timestamp in microseconds, as each engine spells it
            test = f"consumer = {name} AND {{micros}} >= {start}"
            if following is not None:
                test += f" AND {{micros}} < {following[0]}"
            arms.append(f"WHEN {test} THEN {code}")
    if not arms:
        return "0"
    return f"(CASE {' '.join(arms)} ELSE 0 END)"


def request_with_state(
    request: Request, side: SidePass | None, code: int | None, policy: Policy
) -> tuple[Request, RoutePlan | None]:
    """The group's request with its budget state; or, for a rate-limited code, its plan."""
    if side is None or not code:
        return request, None
    state = side.states[code]
    if isinstance(state, str):
        consumer = policy.consumers[request.consumer or ""]
        return request, limited_plan(request, consumer, state.split(":", 1)[1])
    return dataclasses.replace(request, budget=state), None


def report(side: SidePass, policy: Policy) -> dict[str, Any]:
    """The report's ``budgets`` section for one policy."""
    consumers = {}
    for name, summary in sorted(side.consumers.items()):
        consumers[name] = {
            "requests": summary.requests,
            "cost": round(summary.cost, 10),
            "downgraded": summary.downgraded,
            "blocked": summary.blocked,
            "rate_limited": summary.rate_limited,
            "first_downgraded": summary.first_downgraded,
            "first_blocked": summary.first_blocked,
            "crossings": [
                {
                    "budget": c.budget,
                    "threshold": f"{c.threshold:.0%}",
                    "action": c.action,
                    "request_id": c.request_id,
                    "ts": c.ts,
                    "request": c.index,
                    "spent_usd": round(c.spent_usd, 10),
                }
                for c in side.crossings
                if c.consumer == name
            ],
        }
    return {"consumers": consumers}
