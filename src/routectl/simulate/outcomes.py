"""Where each group's legs end up, as an ``outcomes`` table joined to ``groups``.

One row per (side, uid, ostate, minute, outcome) with the share (``weight``) of
the group's requests. ``minute`` is -1 for every minute in which no rate limit
can bind; only the minutes where one might (the traffic that could reach a
limited model or provider exceeds its limit) are simulated one by one
(:mod:`ratelimit`), so a trace far below its limits costs nothing extra.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from routectl.core.policy import Policy
from routectl.simulate import cascade, ratelimit, tables
from routectl.simulate.legs import Leg, ShadowLeg

LegsByKey = dict[tuple[str, int, int], tuple[list[Leg], list[ShadowLeg]]]
COLUMNS = (
    "side", "uid", "ostate", "minute", "kind", "model", "reason", "route", "intent", "arm",
    "experiment", "weight",
)  # fmt: skip
TYPES = ("VARCHAR", "BIGINT", "BIGINT", "BIGINT", *["VARCHAR"] * 7, "DOUBLE")


def binding_minutes(
    con: duckdb.DuckDBPyConnection, policies: dict[str, Policy], legs_by_key: LegsByKey
) -> set[int]:
    """Minutes in which some limit might bind, from an upper bound of the demand."""
    reach: list[tuple[str, int, int, int, int]] = []
    for (side, uid, ostate), (shares, _) in legs_by_key.items():
        policy = policies[side]
        entities = set()
        for leg in shares:
            for model in leg.steps:
                info = policy.models[model]
                if info.rpm or info.tpm:
                    entities.add((f"{side}:model:{model}", info.rpm, info.tpm))
                provider = policy.providers[info.provider]
                if provider.rpm or provider.tpm:
                    entities.add((f"{side}:provider:{provider.name}", provider.rpm, provider.tpm))
        for key, rpm, tpm in entities:
            reach.append((key, uid, ostate, rpm or 0, tpm or 0))
    if not reach:
        return set()
    columns = (("entity", "VARCHAR"), ("uid", "BIGINT"), ("ostate", "BIGINT"))
    tables.create(con, "reach", (*columns, ("rpm", "BIGINT"), ("tpm", "BIGINT")), reach)
    rows = con.execute(
        """
        SELECT DISTINCT minute FROM (
            SELECT g.minute FROM groups g JOIN reach r USING (uid, ostate)
            GROUP BY r.entity, g.minute, r.rpm, r.tpm
            HAVING (r.rpm > 0 AND sum(g.n) > r.rpm) OR (r.tpm > 0 AND sum(g.tin + g.tout) > r.tpm)
        )
        """
    ).fetchall()
    return {int(minute) for (minute,) in rows}


def collapse_minutes(con: duckdb.DuckDBPyConnection, keep: set[int]) -> None:
    """Set ``minute`` to -1 outside ``keep``: those minutes behave alike."""
    tables.create(con, "binding", (("minute", "BIGINT"),), [(m,) for m in sorted(keep)])
    con.execute(
        """
        UPDATE groups SET minute = -1
        WHERE minute NOT IN (SELECT minute FROM binding)
        """
    )


def outcome_rows(
    con: duckdb.DuckDBPyConnection,
    policies: dict[str, Policy],
    legs_by_key: LegsByKey,
    limited_minutes: set[int],
    escalation: cascade.MeasuredRates | None = None,
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for (side, uid, ostate), (shares, shadows) in legs_by_key.items():
        for shadow in shadows:
            rows.append(
                (side, uid, ostate, None, "shadow", shadow.model, shadow.source, shadow.route,
                 shadow.intent, None, None, shadow.weight)
            )  # fmt: skip
        for leg in shares:
            rates = (
                cascade.route_rates(policies[side], leg.route, escalation) if leg.steps else None
            )
            if rates is not None:  # a cascade: answered along the chain at the escalation rates
                for kind, model, weight in cascade.expand(leg.steps, rates, leg.weight):
                    rows.append(_row(side, uid, ostate, -1, leg, kind, model, None, weight))
            elif leg.steps:
                rows.append(
                    _row(side, uid, ostate, -1, leg, "served", leg.steps[0], None, leg.weight)
                )
            else:
                rows.append(
                    _row(side, uid, ostate, -1, leg, leg.kind_if_exhausted, None,
                         leg.reason_if_exhausted, leg.weight)
                )  # fmt: skip
    if not limited_minutes:
        return rows
    flows_by_minute: dict[int, list[tuple[int, int, float, float]]] = defaultdict(list)
    for uid, ostate, minute, n, tokens in con.execute(
        "SELECT uid, ostate, minute, sum(n), sum(tin + tout) FROM groups WHERE minute <> -1 "
        "GROUP BY ALL"
    ).fetchall():
        flows_by_minute[int(minute)].append((int(uid), int(ostate), float(n), float(tokens)))
    for side, policy in policies.items():
        for minute, entries in sorted(flows_by_minute.items()):
            flows = []
            for uid, ostate, n, tokens in entries:
                shares, _ = legs_by_key[(side, uid, ostate)]
                for index, leg in enumerate(shares):
                    flows.append(
                        ratelimit.Flow(
                            (uid, ostate, minute), index, leg, n * leg.weight, tokens * leg.weight
                        )
                    )
            for served in ratelimit.simulate_minute(policy, flows):
                uid, ostate, _ = served.key
                leg = legs_by_key[(side, uid, ostate)][0][served.leg_index]
                rows.append(
                    _row(side, uid, ostate, minute, leg, served.kind, served.model, served.reason,
                         leg.weight * served.share)
                )  # fmt: skip
    return rows


def _row(side, uid, ostate, minute, leg: Leg, kind, model, reason, weight) -> tuple[Any, ...]:
    return (side, uid, ostate, minute, kind, model, reason, leg.route, leg.intent, leg.arm,
            leg.experiment, weight)  # fmt: skip


def register(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    """The ``outcomes`` table: rows per minute (-1: every minute no limit binds); shadows
    (minute NULL) hold in every minute of their group."""
    tables.create(con, "outcomes_rows", list(zip(COLUMNS, TYPES, strict=True)), rows)
    # Shadows (minute NULL) copy into every minute of their group.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE outcomes AS
        SELECT * FROM outcomes_rows WHERE minute IS NOT NULL
        UNION ALL
        SELECT o.* REPLACE (m.minute AS minute)
        FROM outcomes_rows o
        JOIN (SELECT DISTINCT uid, ostate, minute FROM groups) m USING (uid, ostate)
        WHERE o.minute IS NULL
        """
    )
