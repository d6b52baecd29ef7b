"""Replay traffic through one or two policies: scan once, plan each group once.

1. DuckDB scans every traffic file once into ``groups``: requests grouped by the
   features that decide a route (intent, classification, language, consumer,
   metadata), by the token classes of :mod:`token_classes`, and, only when a
   scenario needs time, by outage state and minute. Each group keeps its
   request count, token sums and one real (input, output) pair.
2. Each distinct feature group (``fid``) is planned once per policy with the
   core evaluator; :mod:`legs` turns a plan into shares per arm, applying the
   outage state; :mod:`ratelimit` applies rate limits per minute.
3. The outcome shares are registered as an Arrow table, joined to ``groups``
   and aggregated in DuckDB.

Splits (weighted routes, live experiments, shadows) are counted with their
exact expected fractions, so request counts can be fractional (rounded only
for display). The gateway draws an arm per request with a sticky hash
(``routectl.core.evaluator.bucket``); over a trace that hash spreads keys in
these proportions, and recorded traces such as the Azure ones carry no key to
hash at all, so expected fractions are the reproducible answer for both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from routectl.core.evaluator import plan as plan_request
from routectl.core.policy import Policy
from routectl.core.request import Request
from routectl.simulate import ratelimit
from routectl.simulate.legs import Leg, ShadowLeg, legs
from routectl.simulate.reader import (
    RowError,
    describe,
    fast_projection,
    read_checked,
)
from routectl.simulate.sources import TrafficError, TrafficFile
from routectl.simulate.token_classes import conditions
from routectl.simulate.whatif import Outage, down_models

ROUTE_FEATURES = ("intent", "classification", "language", "consumer", "metadata")
Progress = Callable[[str], None]


class BadTraffic(Exception):
    """Rows that cannot be replayed, with their locations (``--on-error fail``)."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        super().__init__(f"{total} bad row(s)")
        self.errors = errors
        self.total = total


@dataclass
class Side:
    label: str  # "head" | "base"
    policy: Policy


@dataclass
class FileStats:
    path: str
    sha256: str
    requests: int = 0
    skipped: int = 0


@dataclass
class Replay:
    """Aggregated outcomes; everything a report needs, nothing per request."""

    requests: int
    input_tokens: int
    output_tokens: int
    files: list[FileStats]
    skipped_errors: list[RowError]
    skipped: int
    # rows: side, kind, model, reason, route, intent, arm, experiment, requests, tin, tout
    outcomes: list[tuple[Any, ...]]
    # rows: from_model, to_model, requests  (only with two sides)
    shift: list[tuple[str, str, float]] = field(default_factory=list)
    groups: int = 0
    time_span: tuple[datetime | None, datetime | None] = (None, None)
    rate_limited: bool = False


def replay(
    files: list[TrafficFile],
    sides: list[Side],
    outages: list[Outage],
    on_error: str = "fail",
    progress: Progress | None = None,
) -> Replay:
    step = progress or (lambda _message: None)
    policies = [s.policy for s in sides]
    limited = any(ratelimit.has_limits(p) for p in policies)
    windowed = [o for o in outages if o.windowed]
    always_down = [o for o in outages if not o.windowed]
    need_ts = limited or bool(windowed)

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    step("reading traffic")
    stats = [FileStats(f.display, f.sha256()) for f in files]
    selects, present, unreadable = _sources(con, files)
    if limited and "timestamp" not in present and not windowed:
        # No clock in the trace: limits cannot be applied, and the report says so.
        limited, need_ts = False, False
    checked: set[int] = set()
    skipped_errors: list[RowError] = []
    skipped = 0
    conds = conditions(policies)

    suspects = unreadable
    while True:
        for index in sorted(suspects):
            result = read_checked(files[index], need_ts)
            checked.add(index)
            if result.errors and on_error == "fail":
                raise BadTraffic(result.errors[:20], result.bad_rows)
            skipped_errors.extend(result.errors[:20])
            skipped += result.bad_rows
            stats[index].skipped = result.bad_rows
            con.register(f"checked_{index}", result.table)
            selects[index] = f"SELECT {index}::INTEGER AS src, * FROM checked_{index}"
            present |= result.present
        # Every file is fast until proven bad; bad files are re-read with checks.
        try:
            trace_start = _trace_start(con, selects, windowed)
            _group(con, selects, conds, need_ts, limited, windowed, trace_start)
            bad = con.execute(
                "SELECT src, sum(bad) FROM groups GROUP BY src HAVING sum(bad) > 0"
            ).fetchall()
            suspects = {int(src) for src, _ in bad}
        except duckdb.Error:
            suspects = _failing_sources(con, selects, need_ts) - checked
            if not suspects:
                raise
        suspects -= checked
        if not suspects:
            break

    totals = con.execute(
        "SELECT src, sum(n), sum(tin), sum(tout) FROM groups GROUP BY src"
    ).fetchall()
    for src, n, _, _ in totals:
        stats[int(src)].requests = int(n)
    requests = sum(int(r[1]) for r in totals)
    if requests == 0:
        raise TrafficError("the traffic has no requests to replay")
    span = con.execute("SELECT min(ts_min), max(ts_max) FROM groups").fetchone()

    step("planning request groups")
    features = con.execute(
        f"SELECT DISTINCT ON (fid) fid, {', '.join(ROUTE_FEATURES)}, rep_in, rep_out "
        "FROM groups ORDER BY fid"
    ).fetchall()
    plans = {
        (side.label, row[0]): plan_request(side.policy, _request(row)) for side in sides for row in features
    }
    ostates = [r[0] for r in con.execute("SELECT DISTINCT ostate FROM groups").fetchall()]
    legs_by_key: dict[tuple[str, int, int], tuple[list[Leg], list[ShadowLeg]]] = {}
    for side in sides:
        base_down = frozenset().union(*(down_models(o, side.policy) for o in always_down))
        for ostate in ostates:
            down = base_down.union(
                *(down_models(o, side.policy) for i, o in enumerate(windowed) if ostate >> i & 1)
            )
            for row in features:
                legs_by_key[(side.label, row[0], ostate)] = legs(plans[(side.label, row[0])], down)

    step("aggregating")
    out_rows = _outcome_rows(con, sides, legs_by_key, limited)
    _register_outcomes(con, out_rows)
    outcomes = con.execute(
        """
        SELECT o.side, o.kind, o.model, o.reason, o.route, o.intent, o.arm, o.experiment,
               sum(g.n * o.weight), sum(g.tin * o.weight), sum(g.tout * o.weight)
        FROM (SELECT fid, ostate, minute, sum(n) AS n, sum(tin) AS tin, sum(tout) AS tout
              FROM groups GROUP BY ALL) g
        JOIN outcomes o USING (fid, ostate, minute)
        GROUP BY ALL
        """
    ).fetchall()
    shift = _shift(con) if len(sides) == 2 else []
    return Replay(
        requests=requests,
        input_tokens=int(sum(r[2] for r in totals)),
        output_tokens=int(sum(r[3] for r in totals)),
        files=stats,
        skipped_errors=skipped_errors,
        skipped=skipped,
        outcomes=outcomes,
        shift=shift,
        groups=len(features),
        time_span=(span[0], span[1]),
        rate_limited=limited,
    )


def _request(row: tuple[Any, ...]) -> Request:
    import json

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


def _sources(
    con: duckdb.DuckDBPyConnection, files: list[TrafficFile]
) -> tuple[list[str], set[str], set[int]]:
    """Fast SQL per file, the features found, and the files to read with checks."""
    selects: list[str] = []
    present: set[str] = set()
    unreadable: set[int] = set()
    for index, file in enumerate(files):
        columns = describe(con, file)
        projection = fast_projection(file, index, columns) if columns is not None else None
        if projection is None:
            # DuckDB cannot even sniff it, or a column needs checking: read with checks.
            selects.append("")
            unreadable.add(index)
            continue
        sql, features = projection
        selects.append(sql)
        present |= features
    return selects, present, unreadable


def _bad_filter(need_ts: bool) -> str:
    parts = [
        "input_tokens IS NULL",
        "input_tokens < 0",
        "output_tokens IS NULL",
        "output_tokens < 0",
        "(metadata IS NOT NULL AND coalesce(json_type(try_cast(metadata AS JSON)), '') <> 'OBJECT')",
    ]
    if need_ts:
        parts.append("ts IS NULL")
    return " OR ".join(parts)


def _failing_sources(
    con: duckdb.DuckDBPyConnection, selects: list[str], need_ts: bool
) -> set[int]:
    failing = set()
    for index, sql in enumerate(selects):
        try:
            bad = con.execute(f"SELECT count(*) FROM ({sql}) WHERE {_bad_filter(need_ts)}").fetchone()
        except duckdb.Error:
            failing.add(index)
            continue
        if bad and bad[0]:
            failing.add(index)
    return failing


def _trace_start(
    con: duckdb.DuckDBPyConnection, selects: list[str], windowed: list[Outage]
) -> datetime | None:
    if not any(o.relative for o in windowed):
        return None
    union = " UNION ALL ".join(selects)
    return con.execute(f"SELECT min(ts) FROM ({union})").fetchone()[0]


def _group(
    con: duckdb.DuckDBPyConnection,
    selects: list[str],
    conds: list[str],
    need_ts: bool,
    limited: bool,
    windowed: list[Outage],
    trace_start: datetime | None,
) -> None:
    union = " UNION ALL ".join(selects)
    cond_cols = [f"{expr} AS c{i}" for i, expr in enumerate(conds)]
    minute = "epoch(date_trunc('minute', ts))::BIGINT" if limited else "0::BIGINT"
    bits = []
    for i, outage in enumerate(windowed):
        start = outage.start.at(trace_start) if outage.start else None
        end = outage.end.at(trace_start) if outage.end else None
        tests = ["ts IS NOT NULL"]
        if start is not None:
            tests.append(f"ts >= '{start.isoformat(sep=' ')}'::TIMESTAMP")
        if end is not None:
            tests.append(f"ts < '{end.isoformat(sep=' ')}'::TIMESTAMP")
        bits.append(f"(CASE WHEN {' AND '.join(tests)} THEN {1 << i} ELSE 0 END)")
    ostate = " + ".join(bits) if bits else "0"
    keys = ", ".join([*ROUTE_FEATURES, *(f"c{i}" for i in range(len(conds)))])
    con.execute("DROP TABLE IF EXISTS groups_raw")
    con.execute("DROP TABLE IF EXISTS groups")
    con.execute(
        f"""
        CREATE TEMP TABLE groups_raw AS
        SELECT src, {keys}, minute, ostate,
               count(*) AS n, sum(input_tokens) AS tin, sum(output_tokens) AS tout,
               min(input_tokens) AS rep_in, arg_min(output_tokens, input_tokens) AS rep_out,
               min(ts) AS ts_min, max(ts) AS ts_max,
               count(*) FILTER (WHERE {_bad_filter(need_ts)}) AS bad
        FROM (SELECT *, {', '.join([*cond_cols, f'{minute} AS minute', f'({ostate})::BIGINT AS ostate'])}
              FROM ({union}))
        GROUP BY ALL
        """
    )
    # A dense id per distinct routing-relevant tuple: the unit that is planned once.
    con.execute(
        f"""
        CREATE TEMP TABLE groups AS
        SELECT *, dense_rank() OVER (ORDER BY {keys}) AS fid FROM groups_raw
        """
    )


def _outcome_rows(
    con: duckdb.DuckDBPyConnection,
    sides: list[Side],
    legs_by_key: dict[tuple[str, int, int], tuple[list[Leg], list[ShadowLeg]]],
    limited: bool,
) -> list[tuple[Any, ...]]:
    """(side, fid, ostate, minute, kind, model, reason, route, intent, arm, experiment, weight)."""
    rows: list[tuple[Any, ...]] = []
    flows_by_minute: dict[int, list[tuple[int, int, float, float]]] = defaultdict(list)
    if limited:
        for fid, ostate, minute, n, tokens in con.execute(
            "SELECT fid, ostate, minute, sum(n), sum(tin + tout) FROM groups GROUP BY ALL"
        ).fetchall():
            flows_by_minute[int(minute)].append((int(fid), int(ostate), float(n), float(tokens)))
    for side in sides:
        keys = [(fid, ostate) for (label, fid, ostate) in legs_by_key if label == side.label]
        for fid, ostate in keys:
            shares, shadows = legs_by_key[(side.label, fid, ostate)]
            for shadow in shadows:
                rows.append(
                    (side.label, fid, ostate, None, "shadow", shadow.model, shadow.source,
                     shadow.route, shadow.intent, None, None, shadow.weight)
                )
            if limited:
                continue
            for leg in shares:
                if leg.steps:
                    rows.append(_row(side.label, fid, ostate, 0, leg, "served", leg.steps[0], None, leg.weight))
                else:
                    rows.append(
                        _row(side.label, fid, ostate, 0, leg, leg.kind_if_exhausted, None,
                             leg.reason_if_exhausted, leg.weight)
                    )
        if limited:
            for minute, entries in flows_by_minute.items():
                flows = []
                for fid, ostate, n, tokens in entries:
                    shares, _ = legs_by_key[(side.label, fid, ostate)]
                    for index, leg in enumerate(shares):
                        flows.append(
                            ratelimit.Flow((fid, ostate, minute), index, leg, n * leg.weight, tokens * leg.weight)
                        )
                for served in ratelimit.simulate_minute(side.policy, flows):
                    fid, ostate, _ = served.key
                    leg = legs_by_key[(side.label, fid, ostate)][0][served.leg_index]
                    rows.append(
                        _row(side.label, fid, ostate, minute, leg, served.kind, served.model,
                             served.reason, leg.weight * served.share)
                    )
    return rows


def _row(side, fid, ostate, minute, leg: Leg, kind, model, reason, weight) -> tuple[Any, ...]:
    return (side, fid, ostate, minute, kind, model, reason, leg.route, leg.intent, leg.arm,
            leg.experiment, weight)


def _register_outcomes(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa

    names = ["side", "fid", "ostate", "minute", "kind", "model", "reason", "route", "intent",
             "arm", "experiment", "weight"]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    types = [pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.string(), pa.string(),
             pa.string(), pa.string(), pa.string(), pa.string(), pa.string(), pa.float64()]
    table = pa.table(
        [pa.array(list(col), type=t) for col, t in zip(columns, types, strict=True)],
        names=names,
    )
    con.register("outcomes_arrow", table)
    # Shadows apply to every minute of their group: expand their NULL minute here.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE outcomes AS
        SELECT side, fid, ostate, minute, kind, model, reason, route, intent, arm, experiment,
               weight FROM outcomes_arrow WHERE minute IS NOT NULL
        UNION ALL
        SELECT o.side, o.fid, o.ostate, m.minute, o.kind, o.model, o.reason, o.route, o.intent,
               o.arm, o.experiment, o.weight
        FROM outcomes_arrow o
        JOIN (SELECT DISTINCT fid, ostate, minute FROM groups) m USING (fid, ostate)
        WHERE o.minute IS NULL
        """
    )


def _shift(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, float]]:
    """Requests moving from base's model to head's model (``unroutable`` included).

    Within one group, shares that both policies send to the same model stay; the
    rest of base's shares move to head's extra shares in proportion (the least
    movement consistent with both distributions).
    """
    rows = con.execute(
        """
        SELECT fid, ostate, minute, side, coalesce(model, 'unroutable'), sum(weight)
        FROM outcomes WHERE kind <> 'shadow'
        GROUP BY ALL
        """
    ).fetchall()
    dists: dict[tuple[int, int, int], dict[str, dict[str, float]]] = defaultdict(
        lambda: {"base": defaultdict(float), "head": defaultdict(float)}
    )
    for fid, ostate, minute, side, model, weight in rows:
        dists[(fid, ostate, minute)][side][model] += weight
    couplings: list[tuple[int, int, int, str, str, float]] = []
    for key, sides in dists.items():
        for source, target, weight in couple(sides["base"], sides["head"]):
            couplings.append((*key, source, target, weight))
    import pyarrow as pa

    columns = list(zip(*couplings, strict=True)) if couplings else [[] for _ in range(6)]
    table = pa.table(
        [pa.array(list(c)) if c else pa.array([], type=t) for c, t in zip(
            columns,
            [pa.int64(), pa.int64(), pa.int64(), pa.string(), pa.string(), pa.float64()],
            strict=True,
        )],
        names=["fid", "ostate", "minute", "src_model", "dst_model", "weight"],
    )
    con.register("couplings", table)
    return [
        (str(a), str(b), float(n))
        for a, b, n in con.execute(
            """
            SELECT c.src_model, c.dst_model, sum(g.n * c.weight)
            FROM (SELECT fid, ostate, minute, sum(n) AS n FROM groups GROUP BY ALL) g
            JOIN couplings c USING (fid, ostate, minute)
            GROUP BY ALL ORDER BY 3 DESC, 1, 2
            """
        ).fetchall()
    ]


def couple(base: dict[str, float], head: dict[str, float]) -> list[tuple[str, str, float]]:
    """Maximal-overlap coupling of two distributions over models (each sums to 1)."""
    out = []
    surplus: dict[str, float] = {}
    deficit: dict[str, float] = {}
    for model in sorted(set(base) | set(head)):
        b, h = base.get(model, 0.0), head.get(model, 0.0)
        stay = min(b, h)
        if stay > 0:
            out.append((model, model, stay))
        if b > stay:
            surplus[model] = b - stay
        if h > stay:
            deficit[model] = h - stay
    moving = sum(deficit.values())
    for source, amount in surplus.items():
        for target, need in deficit.items():
            if moving > 0:
                out.append((source, target, amount * need / moving))
    return out
