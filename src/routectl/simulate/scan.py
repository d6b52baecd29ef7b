"""Scan the traffic once: read, check and group in one engine pass.

Every file is read by DuckDB once (see :mod:`formats`; :mod:`reader` declares
what its columns mean and which rows are bad) straight into ``groups``: requests
grouped by the features that decide a route, their token class (the packed signs
of :mod:`token_classes`), and, when a scenario needs time, the minute and the
outage state. Each group keeps its count, token sums, a real (input, output)
pair, its time span and how many of its rows are bad. When some are, the files
that hold them are read again with line numbers to say which (``--on-error
fail``), or the grouping runs again without them (``skip``).
No table of individual requests is kept in memory: when the policies draw by
key, the typed per-request columns go to one Parquet file beside DuckDB's spill
files, so the draws after planning read that instead of parsing the traffic again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from routectl.simulate.formats import Source, has_rejects, locate, open_source
from routectl.simulate.reader import RowError, constant_problems, literal
from routectl.simulate.sources import TrafficError, TrafficFile
from routectl.simulate.token_classes import Condition, condition_columns
from routectl.simulate.whatif import Outage

# prompt: the text semantic intent detection reads (a group per distinct prompt, so each
# is classified once); traces without one group as before
ROUTE_FEATURES = (
    "intent",
    "classification",
    "language",
    "consumer",
    "metadata",
    "requires",
    "requested_model",
    "prompt",
)
MAX_LISTED_ERRORS = 20


class BadTraffic(Exception):
    """Rows that cannot be replayed, with their locations (``--on-error fail``)."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        super().__init__(f"{total} bad row(s)")
        self.errors = errors
        self.total = total


@dataclass
class FileStats:
    path: str
    sha256: str
    requests: int = 0
    skipped: int = 0
    features: frozenset[str] = frozenset()  # what the file gives: columns and --set values


@dataclass
class Scanned:
    files: list[FileStats]
    present: set[str]
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    start: datetime | None = None
    end: datetime | None = None
    by_minute: bool = False
    staged: bool = False  # ``staged``: every request (a Parquet file), read again to draw
    states: int = 0  # budget state columns b0, b1, … (one per budgeted side)


@dataclass(frozen=True)
class Plan:
    """What the grouping must separate."""

    conditions: list[Condition]
    windowed: list[Outage]  # outages with a window: one bit each in ``ostate``
    limits: bool  # group by minute (when the traffic has timestamps)
    with_keys: bool  # the policies draw per key: keep request ids and sessions per request
    # Given the good rows (SQL) and the features the traffic gives, per-row SQL
    # expressions to group by as well (b0, b1, …): the budget pass of
    # routectl.simulate.budgets, which must see every row in order.
    prepass: Callable[[duckdb.DuckDBPyConnection, str, set[str]], list[str]] | None = None
    metered: frozenset[str] = frozenset()  # the consumers whose requests the prepass reads


# What the engines spell differently; everything else is SQL both DuckDB and Spark run.
DIALECTS: dict[str, dict[str, str]] = {
    "duckdb": {
        "minute": "(epoch_us(ts) // 60000000) * 60",
        "micros": "epoch_us(ts)",
        "timestamp": "'{}'::TIMESTAMP",
    },
    "spark": {
        "minute": "(unix_micros(ts) div 60000000) * 60",
        "micros": "unix_micros(ts)",
        "timestamp": "TIMESTAMP '{}'",
    },
}
AGGREGATES = """
    count(*) AS n, sum(input_tokens) AS tin, sum(output_tokens) AS tout,
    min(input_tokens) AS rep_in, min_by(output_tokens, input_tokens) AS rep_out,
    min(ts) AS ts_min, max(ts) AS ts_max, count(*) FILTER (WHERE is_bad) AS bad
"""


def scan(
    con: duckdb.DuckDBPyConnection, files: list[TrafficFile], plan: Plan, on_error: str
) -> Scanned:
    """Fill ``groups``. Timestamps are required on every row for outage windows, and for
    rate limits when the traffic has a timestamp column at all."""
    check_constants(con, files)
    sources = [open_source(con, file, index) for index, file in enumerate(files)]
    given = [frozenset(source.project(need_ts=False).present) for source in sources]
    present: set[str] = set().union(*given)
    if plan.windowed and "timestamp" not in present:
        raise TrafficError(
            "an --outage window needs request timestamps, and the traffic has no timestamp "
            "column; name it with --map timestamp=COLUMN or drop the window"
        )
    need_ts = bool(plan.windowed) or (plan.limits and "timestamp" in present)
    # Hash the files while DuckDB reads them (hashlib releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = pool.map(TrafficFile.sha256, files)
        stats = [FileStats(f.display, "", features=g) for f, g in zip(files, given, strict=True)]
        scanned = Scanned(stats, present)
        extra = _read(con, sources, plan, scanned, need_ts)
        for stats, digest in zip(scanned.files, digests, strict=True):
            stats.sha256 = digest
    suspects = {
        int(src)
        for (src,) in con.execute(
            "SELECT src FROM groups_raw GROUP BY src HAVING sum(bad) > 0"
        ).fetchall()
    }
    suspects |= {s.index for s in sources if has_rejects(con, s)}
    if suspects:
        for index in suspects:  # what is bad, and what is left, is the exact read's to say
            sources[index].exact = True
        _set_aside(con, [sources[i] for i in sorted(suspects)], need_ts, scanned, on_error)
        selects = [source.project(need_ts).sql for source in sources]
        _group(con, selects, plan, scanned, extra, good_only=True)
    finish(con, scanned, plan)
    return scanned


def _read(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    plan: Plan,
    scanned: Scanned,
    need_ts: bool,
) -> list[str] | None:
    """The budget pass, if any, then the one grouping pass; returns the budget states.
    A file its quicker reader refuses is read again exactly, where a line it could not
    read is a bad row like any other."""
    while True:
        selects = [source.project(need_ts).sql for source in sources]
        try:
            # Budgets first: what they say of each request is grouped by in the one pass
            # that also counts the bad rows (the budget pass reads good rows only).
            extra = None
            if plan.prepass is not None:
                union = " UNION ALL ".join(f"({sql})" for sql in selects)
                good = f"SELECT * FROM ({union}) WHERE problem IS NULL"
                extra = plan.prepass(con, good, scanned.present)
            _group(con, selects, plan, scanned, extra)
            return extra
        except duckdb.Error as exc:
            quick = [source for source in sources if not source.exact]
            if not quick:
                raise _unreadable(con, sources, selects, exc) from None
            for source in quick:
                source.exact = True


def _unreadable(
    con: duckdb.DuckDBPyConnection, sources: list[Source], selects: list[str], exc: Exception
) -> TrafficError:
    """Which file the engine could not read (a truncated gzip stream, say), and why."""
    for source, sql in zip(sources, selects, strict=True):
        try:
            con.execute(f"SELECT count(COLUMNS(*)) FROM ({sql})").fetchone()
        except duckdb.Error as error:
            exc = error
            first = str(error).strip().splitlines()[0]
            return TrafficError(f"{source.file.display}: cannot read: {first}")
    return TrafficError(f"cannot read the traffic: {str(exc).strip().splitlines()[0]}")


def check_constants(con: duckdb.DuckDBPyConnection, files: list[TrafficFile]) -> None:
    """A ``--set`` value is read like a column's text; a bad one stops before any read."""
    for file in files:
        for feature, sql in constant_problems(file):
            problem = con.execute(f"SELECT {sql}").fetchone()[0]
            if problem is not None:
                value = file.constants[feature]
                raise TrafficError(f"--set {feature}={value}: {problem.split(': ', 1)[-1]}")


def _set_aside(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    need_ts: bool,
    scanned: Scanned,
    on_error: str,
) -> None:
    """Name the bad rows (``fail``: stop) or count them as skipped."""
    errors: list[RowError] = []
    total = 0
    for source in sources:
        found, count = locate(con, source, need_ts, MAX_LISTED_ERRORS - len(errors))
        errors.extend(found)
        total += count
        scanned.files[source.index].skipped = count
    if on_error == "fail" and total:  # (a quick read's suspect may be good after all)
        raise BadTraffic(errors, total)
    scanned.errors = errors
    scanned.skipped = total


def finish(con: duckdb.DuckDBPyConnection, scanned: Scanned, plan: Plan) -> None:
    """Totals from ``groups_raw``, then ``groups``: the same with a feature group id."""
    _summarise(con, scanned)
    # A dense id per distinct routing-relevant tuple: the unit planned once per policy
    # (``fid``), and the unit counted (``uid``): the same, unless keyed draws split it.
    # (A feature the traffic lacks is NULL throughout: it orders nothing.)
    given = [f for f in ROUTE_FEATURES if f in scanned.present]
    keys = ", ".join([*given, *class_keys(plan, scanned)]) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE groups AS
        SELECT *, fid AS uid FROM (
            SELECT * EXCLUDE (bad), dense_rank() OVER (ORDER BY {keys}) AS fid FROM groups_raw
        )
        """
    )
    con.execute("DROP TABLE groups_raw")


def class_keys(plan: Plan, scanned: Scanned) -> list[str]:
    """The grouping columns beside the route features: token classes, then budget states."""
    return [
        *(f"k{i}" for i in range(len(plan.conditions))),
        *(f"b{i}" for i in range(scanned.states)),
    ]


def _group(
    con: duckdb.DuckDBPyConnection,
    selects: list[str],
    plan: Plan,
    scanned: Scanned,
    extra: list[str] | None = None,
    good_only: bool = False,
) -> None:
    present = scanned.present
    scanned.states = len(extra or ())
    union = " UNION ALL ".join(f"({sql})" for sql in selects)
    if good_only:
        union = f"SELECT * FROM ({union}) WHERE problem IS NULL"
    start = None
    if any(o.relative for o in plan.windowed):  # offsets count from the first request
        start = con.execute(f"SELECT min(ts) FROM ({union})").fetchone()[0]
    scanned.by_minute = plan.limits and "timestamp" in present
    row = row_columns(plan, present, scanned.by_minute, start, "duckdb", extra or [])
    scanned.staged = plan.with_keys and bool({"request_id", "session"} & present)
    select = f"SELECT {', '.join(row)} FROM ({union})"
    if scanned.staged:
        # Keyed draws read every request again after planning. The traffic is parsed once,
        # into a Parquet file of only the typed columns the passes read (beside DuckDB's
        # spill files): reading that back costs a fraction of a second parse of JSON or
        # CSV, and memory stays flat where a table of every request would not.
        path = _staged_path(con)
        # In any order: every later pass groups or joins it (the writers then run in
        # parallel). Line numbers come from numbered re-reads, never from this file.
        con.execute("SET preserve_insertion_order = false")
        try:
            con.execute(f"COPY ({select}) TO {literal(path)} (FORMAT parquet)")
        finally:
            con.execute("RESET preserve_insertion_order")
        select = f"SELECT * FROM read_parquet({literal(path)})"
    # Every request, as a view: keyed draws and --decisions-out read it after planning.
    con.execute(f"CREATE OR REPLACE TEMP VIEW staged AS {select}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE groups_raw AS {grouped(plan, scanned)}")


def grouped(plan: Plan, scanned: Scanned) -> str:
    """``staged`` grouped into ``groups_raw``'s rows. A key that cannot vary (a feature the
    traffic lacks, the minute or outage state when no scenario needs them) is set once,
    not grouped by: every key costs every row."""
    constant = {f: "CAST(NULL AS STRING)" for f in ROUTE_FEATURES if f not in scanned.present}
    if not scanned.by_minute:
        constant["minute"] = "CAST(-1 AS BIGINT)"
    if not plan.windowed:
        constant["ostate"] = "CAST(0 AS BIGINT)"
    keys = ["src", *ROUTE_FEATURES, *class_keys(plan, scanned), "minute", "ostate"]
    columns = [f"{constant[k]} AS {k}" if k in constant else k for k in keys]
    varying = [k for k in keys if k not in constant]
    return f"SELECT {', '.join(columns)}, {AGGREGATES} FROM staged GROUP BY {', '.join(varying)}"


def _staged_path(con: duckdb.DuckDBPyConnection) -> str:
    directory = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    if not directory or not Path(directory).is_dir():
        directory = tempfile.gettempdir()
    return str(Path(directory) / f"routectl-staged-{id(con)}.parquet")


def row_columns(
    plan: Plan,
    present: set[str],
    by_minute: bool,
    start: datetime | None,
    dialect: str,
    extra: list[str] | None = None,
) -> list[str]:
    """Per request: src, tokens, ts, route features, keys, token classes (``k0`` …),
    budget states (``b0`` …, from ``extra``, whose ``{micros}`` is the timestamp in
    microseconds), ``minute`` (-1: not needed), outage state
    bits and whether the row is bad."""
    spell = DIALECTS[dialect]
    packed = condition_columns(plan.conditions)
    features = [f if f in present else f"CAST(NULL AS STRING) AS {f}" for f in ROUTE_FEATURES]
    # Integer arithmetic: date_trunc() was the most expensive expression of the scan.
    minute = spell["minute"] if by_minute else "CAST(-1 AS BIGINT)"
    bits = []
    for i, outage in enumerate(plan.windowed):
        tests = ["ts IS NOT NULL"]
        begin = outage.start.at(start) if outage.start else None
        end = outage.end.at(start) if outage.end else None
        if begin is not None:
            tests.append(f"ts >= {spell['timestamp'].format(begin.isoformat(sep=' '))}")
        if end is not None:
            tests.append(f"ts < {spell['timestamp'].format(end.isoformat(sep=' '))}")
        bits.append(f"(CASE WHEN {' AND '.join(tests)} THEN {1 << i} ELSE 0 END)")
    ostate = " + ".join(bits) if bits else "0"
    return [
        "src",
        "input_tokens",
        "output_tokens",
        "ts",
        *features,
        *(k if k in present else f"CAST(NULL AS STRING) AS {k}" for k in ("request_id", "session")),
        *(f"{sql} AS k{i}" for i, sql in enumerate(packed)),
        *(
            f"CAST({sql.replace('{micros}', spell['micros'])} AS INTEGER) AS b{i}"
            for i, sql in enumerate(extra or ())
        ),
        f"{minute} AS minute",
        f"CAST({ostate} AS BIGINT) AS ostate",
        "(problem IS NOT NULL) AS is_bad",
    ]


def _summarise(con: duckdb.DuckDBPyConnection, scanned: Scanned) -> None:
    rows = con.execute(
        """
        SELECT src, sum(n), sum(tin), sum(tout), min(ts_min), max(ts_max)
        FROM groups_raw GROUP BY src
        """
    ).fetchall()
    if not rows:
        raise TrafficError("the traffic has no requests to replay")
    for row in rows:
        scanned.files[int(row[0])].requests = int(row[1])
    scanned.requests = sum(int(r[1]) for r in rows)
    scanned.input_tokens = sum(int(r[2]) for r in rows)
    scanned.output_tokens = sum(int(r[3]) for r in rows)
    starts = [r[4] for r in rows if r[4] is not None]
    ends = [r[5] for r in rows if r[5] is not None]
    scanned.start = min(starts) if starts else None
    scanned.end = max(ends) if ends else None
