"""Replay traffic through one or two policies: plan each group once, draw in the engine.

1. :mod:`scan` reads every traffic file with DuckDB and groups requests by
   the features that decide a route (intent, classification, language,
   consumer, metadata), by the token classes of :mod:`token_classes`, and, only
   when a scenario needs time, by outage state and minute.
2. Each distinct feature group (``fid``) is planned once per policy with the
   core evaluator; :mod:`legs` turns a plan into shares per arm under the
   outage state; :mod:`outcomes` applies rate limits in the minutes where they
   can bind.
3. The outcome shares go to DuckDB as a table (:mod:`tables`), are joined to the groups
   and aggregated there.

Splits (weighted routes, live experiments, shadows). A request that carries
the sticky keys its plan hashes (request id, session, consumer) is drawn as the
gateway draws it, inside the engine (:mod:`draws`: the core's bucket in SQL):
once the groups are planned, every request is read again (DuckDB: from the typed
Parquet copy the scan wrote, never a second parse of the trace), each request's draw is
computed from its keys, and requests are counted by (group, draw) in whole
numbers (``uid``: one unit per group and draw), with no Python object per
request. A request without those keys would be drawn on the empty key by the
gateway, which says nothing about a split, so it counts with the exact
expected fractions (fractional request counts, rounded only for display).
Traces such as the Azure ones carry no key, so their replay is all expected
fractions. ``--decisions-out`` streams every request's prediction from one
more pass (:mod:`decisions`).

The reading and grouping run in DuckDB, or in Spark (:mod:`spark`) for traces
beyond one machine; the grouped tables are small and the rest runs in DuckDB.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from routectl.core.evaluator import choose, needs_semantic, semantic_match
from routectl.core.evaluator import plan as plan_request
from routectl.core.policy import Policy
from routectl.core.request import Decision, Request, RoutePlan
from routectl.core.strategies import STRATEGIES
from routectl.simulate import budgets, decisions, draws, outcomes, ratelimit, scan, tables
from routectl.simulate.cascade import MeasuredRates
from routectl.simulate.legs import Leg, ShadowLeg, keyed, legs, needs_draw
from routectl.simulate.reader import RowError
from routectl.simulate.scan import ROUTE_FEATURES, BadTraffic, FileStats
from routectl.simulate.shift import shift_matrix
from routectl.simulate.sources import TrafficFile
from routectl.simulate.token_classes import conditions
from routectl.simulate.whatif import Outage, down_models

__all__ = ["BadTraffic", "Engine", "Progress", "Replay", "Side", "replay"]
Progress = Callable[[str], None]
MEMORY_LIMIT = "700MB"


@dataclass
class Side:
    label: str  # "head" | "base"
    policy: Policy


@dataclass
class Replay:
    """Aggregated outcomes: everything a report needs, nothing per request."""

    requests: int
    input_tokens: int
    output_tokens: int
    files: list[FileStats]
    skipped_errors: list[RowError]
    skipped: int
    # side, kind, model, reason, route, intent, arm, experiment, requests, tin, tout
    outcomes: list[tuple[Any, ...]]
    shift: list[tuple[str, str, float]] = field(default_factory=list)  # base -> head
    groups: int = 0
    token_conditions: int = 0
    time_span: tuple[datetime | None, datetime | None] = (None, None)
    rate_limits: str = "none in the policy"
    limited_minutes: int = 0
    budgets: dict[str, Any] = field(default_factory=dict)  # side -> budgets report section
    # side -> (distinct prompts the examples classified, the classifications' cost in USD)
    detection: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Engine:
    """Where the per-request work runs: ``duckdb`` (embedded) or ``spark`` (``master``)."""

    name: str = "duckdb"
    master: str | None = None


def replay(
    files: list[TrafficFile],
    sides: list[Side],
    outages: list[Outage],
    on_error: str = "fail",
    progress: Progress | None = None,
    starting_spend: dict[str, float] | None = None,
    engine: Engine = Engine(),
    decisions_out: str | None = None,
    escalation: MeasuredRates | None = None,
) -> Replay:
    step = progress or (lambda _message: None)
    policies = {s.label: s.policy for s in sides}

    with tempfile.TemporaryDirectory(prefix="routectl-simulate-") as spill:
        con = duckdb.connect()
        # Bounded memory: a trace larger than this spills to disk instead of growing.
        con.execute(f"SET memory_limit='{MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory='{spill}'")
        con.execute("SET TimeZone='UTC'")
        try:
            return _replay(
                con, files, policies, outages, on_error, step, starting_spend or {}, engine,
                decisions_out, escalation,
            )  # fmt: skip
        finally:
            con.close()


def _replay(
    con: duckdb.DuckDBPyConnection,
    files: list[TrafficFile],
    policies: dict[str, Policy],
    outages: list[Outage],
    on_error: str,
    step: Progress,
    starting_spend: dict[str, float],
    engine: Engine,
    decisions_out: str | None,
    escalation: MeasuredRates | None = None,
) -> Replay:
    limited = any(ratelimit.has_limits(p) for p in policies.values())
    budgeted = [label for label, p in policies.items() if budgets.has_budgets(p)]
    passes: dict[str, budgets.SidePass] = {}

    def budget_prepass(
        con: duckdb.DuckDBPyConnection, rows_sql: str, present: set[str]
    ) -> list[str]:
        step("replaying budgets in time order")
        for label in budgeted:
            passes[label] = budgets.run_pass(
                con, rows_sql, policies[label], starting_spend, present
            )
        return [passes[label].case_sql for label in budgeted]

    windowed = [o for o in outages if o.windowed]
    always_down = [o for o in outages if not o.windowed]
    step("reading traffic")
    drawing = any(_draws_anything(p) for p in policies.values())
    conds = conditions(policies.values())
    prepass = budget_prepass if budgeted else None
    metered = frozenset(name for label in budgeted for name in budgets.metered(policies[label]))
    plan = scan.Plan(conds, windowed, limited, drawing, prepass, metered)
    if engine.name == "spark":
        from routectl.simulate import spark

        scanned = spark.scan(con, files, plan, on_error, engine.master)
    else:
        scanned = scan.scan(con, files, plan, on_error)
    rate_limits = "none in the policy"
    if limited:
        rate_limits = "applied per minute of the trace"
        if not scanned.by_minute:
            limited, rate_limits = False, "not applied: the traffic has no timestamps"

    step("planning request groups")
    state_columns = "".join(f", b{i}" for i in range(len(passes)))
    features = con.execute(
        f"SELECT DISTINCT ON (fid) fid, {', '.join(ROUTE_FEATURES)}, rep_in, rep_out"
        f"{state_columns} FROM groups ORDER BY fid"
    ).fetchall()
    width = 1 + len(ROUTE_FEATURES) + 2  # fid, the features, rep_in, rep_out
    column = {label: width + i for i, label in enumerate(budgeted) if label in passes}
    plans = {}
    for label, policy in policies.items():
        for row in features:
            request = _request(row[:width])
            if label in column:
                request, limited_plan = budgets.request_with_state(
                    request, passes[label], row[column[label]], policy
                )
                if limited_plan is not None:
                    plans[(label, row[0])] = limited_plan
                    continue
            plans[(label, row[0])] = plan_request(policy, request)
    detection = {
        label: _detection(policy, [row[:width] for row in features])
        for label, policy in policies.items()
    }
    ostates = [r[0] for r in con.execute("SELECT DISTINCT ostate FROM groups").fetchall()]
    downs_by_side = {}
    for label, policy in policies.items():
        always = frozenset().union(*(down_models(o, policy) for o in always_down))
        downs_by_side[label] = {
            ostate: always.union(
                *(down_models(o, policy) for i, o in enumerate(windowed) if ostate >> i & 1)
            )
            for ostate in ostates
        }
    labels = list(policies)
    class_keys = scan.class_keys(plan, scanned)
    if scanned.staged or decisions_out:
        draw_ids = _fid_draws(con, plans, labels, class_keys)
    if decisions_out:
        step("writing decisions")
        decisions.write(
            con, decisions_out, policies, plans, downs_by_side, class_keys, ROUTE_FEATURES,
            [f.display for f in files], draw_ids,
        )  # fmt: skip
    if scanned.staged:
        units = _drawn_units(con, plans, labels, draw_ids, class_keys, engine)
    else:
        units = _group_units(con, plans)
    if engine.name == "duckdb":
        con.execute("DROP VIEW staged")
    legs_by_key: outcomes.LegsByKey = {}
    for label in policies:
        downs = downs_by_side[label]
        cache: dict[tuple[int, int], tuple[list[Leg], list[ShadowLeg]]] = {}
        for uid, fid, drawn_by_side in units:
            route_plan = plans[(label, fid)]
            drawn = drawn_by_side.get(label)
            for ostate, down in downs.items():
                if drawn is None:  # the same for every unit of the group
                    if (fid, ostate) not in cache:
                        cache[(fid, ostate)] = legs(route_plan, down)
                    legs_by_key[(label, uid, ostate)] = cache[(fid, ostate)]
                else:
                    legs_by_key[(label, uid, ostate)] = legs(route_plan, down, drawn)

    step("aggregating")
    minutes: set[int] = set()
    if limited:
        minutes = outcomes.binding_minutes(con, policies, legs_by_key)
        outcomes.collapse_minutes(con, minutes)
    outcomes.register(con, outcomes.outcome_rows(con, policies, legs_by_key, minutes, escalation))
    aggregated = con.execute(
        """
        SELECT o.side, o.kind, o.model, o.reason, o.route, o.intent, o.arm, o.experiment,
               sum(g.n * o.weight), sum(g.tin * o.weight), sum(g.tout * o.weight)
        FROM (SELECT uid, ostate, minute, sum(n) AS n, sum(tin) AS tin, sum(tout) AS tout
              FROM groups GROUP BY ALL) g
        JOIN outcomes o USING (uid, ostate, minute)
        GROUP BY ALL
        """
    ).fetchall()
    return Replay(
        requests=scanned.requests,
        input_tokens=scanned.input_tokens,
        output_tokens=scanned.output_tokens,
        files=scanned.files,
        skipped_errors=scanned.errors,
        skipped=scanned.skipped,
        outcomes=aggregated,
        shift=shift_matrix(con) if len(policies) == 2 else [],
        groups=len(features),
        token_conditions=len(conds),
        time_span=(scanned.start, scanned.end),
        rate_limits=rate_limits,
        limited_minutes=len(minutes),
        budgets={label: budgets.report(side, policies[label]) for label, side in passes.items()},
        detection={side: found for side, found in detection.items() if found[0]},
    )


def _draws_anything(policy: Policy) -> bool:
    return any(
        (STRATEGIES[route.strategy].draws and len(route.targets) > 1)
        or route.experiments
        or route.shadows
        for route in policy.routes
    )


Unit = tuple[int, int, dict[str, Decision]]  # uid, fid, the drawn decision per side


def _group_units(con: duckdb.DuckDBPyConnection, plans: dict[tuple[str, int], Any]) -> list[Unit]:
    """No request ids or sessions in the trace: one unit per group. A consumer-sticky draw
    is still the gateway's own, drawn here once per group (the consumer is a feature)."""
    units: list[Unit] = []
    for fid, consumer in con.execute("SELECT DISTINCT fid, consumer FROM groups").fetchall():
        drawn = {}
        if consumer is not None:
            request = Request(consumer=consumer)
            for (label, plan_fid), route_plan in plans.items():
                if plan_fid == fid and needs_draw(route_plan) and keyed(route_plan, request):
                    drawn[label] = choose(route_plan, request)
        units.append((int(fid), int(fid), drawn))
    return units


def _fid_draws(
    con: duckdb.DuckDBPyConnection,
    plans: dict[tuple[str, int], RoutePlan],
    labels: list[str],
    class_keys: list[str],
) -> dict[draws.Draw, int]:
    """``fid_draws``: each feature group's route features and its draw id per side."""
    ids, rows = draws.draw_ids(plans, labels, sorted({fid for _, fid in plans}))
    columns = (("fid", "BIGINT"), *((f"d_{label}", "BIGINT") for label in labels))
    tables.create(con, "fid_draws_ids", columns, rows)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fid_draws AS
        SELECT DISTINCT g.fid, {", ".join(f"g.{c}" for c in (*ROUTE_FEATURES, *class_keys))},
               {", ".join(f"d.d_{label}" for label in labels)}
        FROM groups g JOIN fid_draws_ids d USING (fid)
        """
    )
    return ids


def _drawn_units(
    con: duckdb.DuckDBPyConnection,
    plans: dict[tuple[str, int], RoutePlan],
    labels: list[str],
    ids: dict[draws.Draw, int],
    class_keys: list[str],
    engine: Engine,
) -> list[Unit]:
    """Draw every staged request by its keys inside the engine; ``uid`` is a group of
    requests that drew alike under every side (whole numbers, no Python object per
    request)."""
    sql = draws.regroup(ids, labels, ROUTE_FEATURES, class_keys, engine.name)
    codes = ", ".join(f"c_{label}" for label in labels)
    if engine.name == "duckdb":
        con.execute(f"CREATE OR REPLACE TEMP TABLE drawn AS {sql}")
    else:
        from routectl.simulate import spark

        spark.regroup(con, sql)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE groups AS
        SELECT *, dense_rank() OVER (ORDER BY fid, {codes}) AS uid FROM drawn
        """
    )
    units: list[Unit] = []
    for row in con.execute(f"SELECT DISTINCT uid, fid, {codes} FROM groups").fetchall():
        uid, fid, *codes_by_side = row
        drawn = {
            label: draws.decision(plans[(label, fid)], code)
            for label, code in zip(labels, codes_by_side, strict=True)
            if code is not None
        }
        units.append((int(uid), int(fid), drawn))
    return units


def _detection(policy: Policy, features: list[tuple[Any, ...]]) -> tuple[int, float]:
    """Distinct prompts semantic detection classified, and what that cost (an llm encoder's
    calls; the gateway, too, classifies a prompt it has seen from its cache)."""
    if policy.detector is None:
        return 0, 0.0
    prompts: set[str] = set()
    cost = 0.0
    for row in features:
        request = _request(row)
        if request.prompt and request.prompt not in prompts and needs_semantic(policy, request):
            prompts.add(request.prompt)
            match = semantic_match(policy, request)
            cost += match.cost if match is not None else 0.0
    return len(prompts), cost


def _request(row: tuple[Any, ...]) -> Request:
    intent, classification, language, consumer, metadata, requires, model, prompt = row[1:9]
    rep_in, rep_out = row[9:]
    meta: dict[str, str] = {}
    if metadata:
        meta = {str(k): str(v) for k, v in json.loads(metadata).items() if v is not None}
    return Request(
        intent=intent,
        classification=classification,
        language=language,
        consumer=consumer,
        input_tokens=int(rep_in),
        output_tokens=int(rep_out),
        metadata=meta,
        requires=frozenset(requires.split(",")) if requires else frozenset(),
        model=model,
        prompt=prompt,
    )
