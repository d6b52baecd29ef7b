"""Replay traffic through one or two policies: parse once, plan each group once.

1. :mod:`scan` loads every traffic file into DuckDB once and groups requests by
   the features that decide a route (intent, classification, language,
   consumer, metadata), by the token classes of :mod:`token_classes`, and, only
   when a scenario needs time, by outage state and minute.
2. Each distinct feature group (``fid``) is planned once per policy with the
   core evaluator; :mod:`legs` turns a plan into shares per arm under the
   outage state; :mod:`outcomes` applies rate limits in the minutes where they
   can bind.
3. The outcome shares go to DuckDB as a table (:mod:`tables`), are joined to the groups
   and aggregated there.

Splits (weighted routes, live experiments, shadows) are counted with their
exact expected fractions, so request counts can be fractional (rounded only
for display). The gateway draws one arm per request with a sticky hash
(``routectl.core.evaluator.bucket`` of the consumer, session or request id);
over many keys that hash splits in these proportions, and recorded traces such
as the Azure ones carry no key to hash at all. Expected fractions therefore
give the same, reproducible answer for every trace, keyed or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from routectl.core.evaluator import plan as plan_request
from routectl.core.policy import Policy
from routectl.core.request import Request
from routectl.simulate import outcomes, ratelimit, scan
from routectl.simulate.legs import legs
from routectl.simulate.reader import RowError
from routectl.simulate.scan import ROUTE_FEATURES, BadTraffic, FileStats
from routectl.simulate.shift import shift_matrix
from routectl.simulate.sources import TrafficFile
from routectl.simulate.token_classes import conditions
from routectl.simulate.whatif import Outage, down_models

__all__ = ["BadTraffic", "Progress", "Replay", "Side", "replay"]
Progress = Callable[[str], None]


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


def replay(
    files: list[TrafficFile],
    sides: list[Side],
    outages: list[Outage],
    on_error: str = "fail",
    progress: Progress | None = None,
) -> Replay:
    step = progress or (lambda _message: None)
    policies = {s.label: s.policy for s in sides}
    limited = any(ratelimit.has_limits(p) for p in policies.values())
    windowed = [o for o in outages if o.windowed]
    always_down = [o for o in outages if not o.windowed]

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    step("reading traffic")
    loaded = scan.load(con, files, bool(windowed), limited, on_error)
    rate_limits = "none in the policy"
    if limited:
        rate_limits = "applied per minute of the trace"
        if loaded.start is None:
            limited, rate_limits = False, "not applied: the traffic has no timestamps"
    used = scan.group(con, loaded, conditions(policies.values()), limited, windowed)

    step("planning request groups")
    features = con.execute(
        f"SELECT DISTINCT ON (fid) fid, {', '.join(ROUTE_FEATURES)}, rep_in, rep_out "
        "FROM groups ORDER BY fid"
    ).fetchall()
    ostates = [r[0] for r in con.execute("SELECT DISTINCT ostate FROM groups").fetchall()]
    legs_by_key: outcomes.LegsByKey = {}
    for label, policy in policies.items():
        plans = {row[0]: plan_request(policy, _request(row)) for row in features}
        always = frozenset().union(*(down_models(o, policy) for o in always_down))
        for ostate in ostates:
            down = always.union(
                *(down_models(o, policy) for i, o in enumerate(windowed) if ostate >> i & 1)
            )
            for fid, route_plan in plans.items():
                legs_by_key[(label, fid, ostate)] = legs(route_plan, down)

    step("aggregating")
    minutes: set[int] = set()
    if limited:
        minutes = outcomes.binding_minutes(con, policies, legs_by_key)
        outcomes.collapse_minutes(con, minutes)
    outcomes.register(con, outcomes.outcome_rows(con, policies, legs_by_key, minutes))
    aggregated = con.execute(
        """
        SELECT o.side, o.kind, o.model, o.reason, o.route, o.intent, o.arm, o.experiment,
               sum(g.n * o.weight), sum(g.tin * o.weight), sum(g.tout * o.weight)
        FROM (SELECT fid, ostate, minute, sum(n) AS n, sum(tin) AS tin, sum(tout) AS tout
              FROM groups GROUP BY ALL) g
        JOIN outcomes o USING (fid, ostate, minute)
        GROUP BY ALL
        """
    ).fetchall()
    return Replay(
        requests=loaded.requests,
        input_tokens=loaded.input_tokens,
        output_tokens=loaded.output_tokens,
        files=loaded.files,
        skipped_errors=loaded.errors,
        skipped=loaded.skipped,
        outcomes=aggregated,
        shift=shift_matrix(con) if len(sides) == 2 else [],
        groups=len(features),
        token_conditions=used,
        time_span=(loaded.start, loaded.end),
        rate_limits=rate_limits,
        limited_minutes=len(minutes),
    )


def _request(row: tuple[Any, ...]) -> Request:
    intent, classification, language, consumer, metadata, rep_in, rep_out = row[1:]
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
    )
