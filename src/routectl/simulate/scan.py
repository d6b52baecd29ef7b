"""Load the traffic into DuckDB once, check it, and group it for planning.

``traffic`` (a temporary table) holds the normalised rows of every file: one
CSV/JSON/Parquet parse per file. The checks and the grouping then run on that
columnar table, which is much cheaper than parsing again. ``groups`` is the
result the rest of the replay works from; ``traffic`` is dropped after it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from routectl.simulate.reader import RowError, describe, fast_projection, read_checked
from routectl.simulate.sources import TEXT_FEATURES, TrafficError, TrafficFile
from routectl.simulate.token_classes import Condition, packed_sql, varying
from routectl.simulate.whatif import Outage

ROUTE_FEATURES = ("intent", "classification", "language", "consumer", "metadata")
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


@dataclass
class Loaded:
    files: list[FileStats]
    present: set[str]
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # min/max input, min/max output
    start: datetime | None = None
    end: datetime | None = None


def bad_filter(need_ts: bool, present: set[str]) -> str:
    parts = [
        "input_tokens IS NULL",
        "input_tokens < 0",
        "output_tokens IS NULL",
        "output_tokens < 0",
    ]
    if "metadata" in present:
        parts.append(
            "(metadata IS NOT NULL AND "
            "coalesce(json_type(try_cast(metadata AS JSON)), '') <> 'OBJECT')"
        )
    if need_ts:
        parts.append("ts IS NULL")
    return " OR ".join(parts)


def load(
    con: duckdb.DuckDBPyConnection,
    files: list[TrafficFile],
    windows: bool,
    limits: bool,
    on_error: str,
    with_keys: bool = False,
) -> Loaded:
    """Fill the ``traffic`` table. Files are read fast until proven bad, then re-read row by
    row with checks, which locate every bad line (and drop them with ``on_error=skip``).

    Timestamps are required on every row for outage ``windows``, and for rate
    ``limits`` when the traffic has a timestamp column at all. Sticky ``keys``
    (request id, session) are kept only when the policies draw anything.
    """
    selects: list[str] = []
    present: set[str] = set()
    suspects: set[int] = set()
    for index, file in enumerate(files):
        columns = describe(con, file)
        try:
            projection = fast_projection(file, index, columns) if columns is not None else None
        except TrafficError:
            projection = None  # the checked read names the problem, or finds none
        if projection is None:  # cannot sniff, or a column needs checking
            selects.append("")
            suspects.add(index)
        else:
            selects.append(projection[0])
            present |= projection[1]
    if windows and not suspects and "timestamp" not in present:
        raise TrafficError(
            "an --outage window needs request timestamps, and the traffic has no timestamp "
            "column; name it with --map timestamp=COLUMN or drop the window"
        )
    need_ts = windows or (limits and "timestamp" in present)
    # Hash the files while DuckDB parses them (hashlib releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = pool.map(TrafficFile.sha256, files)
        loaded = _load(con, files, selects, present, suspects, need_ts, on_error, with_keys)
        for stats, digest in zip(loaded.files, digests, strict=True):
            stats.sha256 = digest
    return loaded


def _load(
    con: duckdb.DuckDBPyConnection,
    files: list[TrafficFile],
    selects: list[str],
    present: set[str],
    suspects: set[int],
    need_ts: bool,
    on_error: str,
    with_keys: bool,
) -> Loaded:
    loaded = Loaded([FileStats(f.display, "") for f in files], present)
    checked: set[int] = set()
    while True:
        for index in sorted(suspects):
            result = read_checked(files[index], need_ts)
            checked.add(index)
            if result.errors and on_error == "fail":
                raise BadTraffic(result.errors[:MAX_LISTED_ERRORS], result.bad_rows)
            loaded.errors.extend(result.errors[: MAX_LISTED_ERRORS - len(loaded.errors)])
            loaded.skipped += result.bad_rows
            loaded.files[index].skipped = result.bad_rows
            con.register(f"checked_{index}", result.table)
            selects[index] = f"SELECT {index}::INTEGER AS src, * FROM checked_{index}"
            present |= result.present
        columns = ["src", "ts", "input_tokens", "output_tokens"]
        skipped = () if with_keys else ("request_id", "session")
        columns += [f for f in TEXT_FEATURES if f in present and f not in skipped]
        union = " UNION ALL ".join(f"({sql})" for sql in selects)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE traffic AS "
                f"SELECT {', '.join(columns)} FROM ({union})"
            )
            bad = con.execute(
                f"SELECT src FROM traffic WHERE {bad_filter(need_ts, present)} GROUP BY src"
            ).fetchall()
            suspects = {int(row[0]) for row in bad} - checked
        except duckdb.Error:
            suspects = _failing(con, selects) - checked
            if not suspects:
                raise
        if not suspects:
            break
    _summarise(con, loaded)
    return loaded


def _failing(con: duckdb.DuckDBPyConnection, selects: list[str]) -> set[int]:
    """The files whose fast read raises (a cast that fails, a line DuckDB cannot parse)."""
    failing = set()
    for index, sql in enumerate(selects):
        try:
            # count(COLUMNS(*)) touches every column, so no failing cast is pruned away.
            con.execute(f"SELECT count(COLUMNS(*)) FROM ({sql})").fetchone()
        except duckdb.Error:
            failing.add(index)
    return failing


def _summarise(con: duckdb.DuckDBPyConnection, loaded: Loaded) -> None:
    rows = con.execute(
        """
        SELECT src, count(*), sum(input_tokens), sum(output_tokens), min(input_tokens),
               max(input_tokens), min(output_tokens), max(output_tokens), min(ts), max(ts)
        FROM traffic GROUP BY src
        """
    ).fetchall()
    if not rows:
        raise TrafficError("the traffic has no requests to replay")
    for row in rows:
        loaded.files[int(row[0])].requests = int(row[1])
    loaded.requests = sum(int(r[1]) for r in rows)
    loaded.input_tokens = sum(int(r[2]) for r in rows)
    loaded.output_tokens = sum(int(r[3]) for r in rows)
    loaded.box = (
        min(int(r[4]) for r in rows),
        max(int(r[5]) for r in rows),
        min(int(r[6]) for r in rows),
        max(int(r[7]) for r in rows),
    )
    starts = [r[8] for r in rows if r[8] is not None]
    ends = [r[9] for r in rows if r[9] is not None]
    loaded.start = min(starts) if starts else None
    loaded.end = max(ends) if ends else None


def group(
    con: duckdb.DuckDBPyConnection,
    loaded: Loaded,
    conds: list[Condition],
    by_minute: bool,
    windowed: list[Outage],
    with_keys: bool = False,
) -> int:
    """Create ``groups`` from ``traffic``; returns how many conditions split the traffic."""
    useful = varying(conds, loaded.box)
    keys = [f"k{i}" for i in range(len(packed_sql(useful)))]
    packed = [f"{sql} AS {key}" for sql, key in zip(packed_sql(useful), keys, strict=True)]
    features = [f if f in loaded.present else f"NULL::VARCHAR AS {f}" for f in ROUTE_FEATURES]
    sticky = [
        f if with_keys and f in loaded.present else f"NULL::VARCHAR AS {f}"
        for f in ("request_id", "session")
    ]
    minute = "epoch(date_trunc('minute', ts))::BIGINT" if by_minute else "-1::BIGINT"
    bits = []
    for i, outage in enumerate(windowed):
        tests = ["ts IS NOT NULL"]
        start = outage.start.at(loaded.start) if outage.start else None
        end = outage.end.at(loaded.start) if outage.end else None
        if start is not None:
            tests.append(f"ts >= '{start.isoformat(sep=' ')}'::TIMESTAMP")
        if end is not None:
            tests.append(f"ts < '{end.isoformat(sep=' ')}'::TIMESTAMP")
        bits.append(f"(CASE WHEN {' AND '.join(tests)} THEN {1 << i} ELSE 0 END)")
    ostate = " + ".join(bits) if bits else "0"
    group_keys = ", ".join([*ROUTE_FEATURES, *keys])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE groups_raw AS
        SELECT src, {group_keys}, request_id, session, minute, ostate,
               count(*) AS n, sum(input_tokens) AS tin, sum(output_tokens) AS tout,
               min(input_tokens) AS rep_in, arg_min(output_tokens, input_tokens) AS rep_out
        FROM (SELECT src, input_tokens, output_tokens, {", ".join([*features, *sticky, *packed])},
                     {minute} AS minute, ({ostate})::BIGINT AS ostate
              FROM traffic)
        GROUP BY ALL
        """
    )
    # A dense id per distinct routing-relevant tuple: the unit planned once per policy.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE groups AS
        SELECT *, dense_rank() OVER (ORDER BY {group_keys}) AS fid FROM groups_raw
        """
    )
    con.execute("DROP TABLE groups_raw")
    con.execute("DROP TABLE traffic")
    return len(useful)
