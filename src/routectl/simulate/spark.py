"""The Spark engine: the same grouping as :mod:`scan`, for traces beyond one machine.

Spark reads the traffic (Parquet, CSV or JSON lines; local paths, globs, or any
URI the cluster reads: ``hdfs://``, ``s3a://`` …) and runs the per-request
columns of :func:`scan.row_columns` and the grouping of :mod:`draws` in Spark
SQL. Only grouped tables (one row per feature group, minute, outage state and
draw) come back to the driver, as Arrow, into the local DuckDB where planning
and the report run exactly as for the DuckDB engine.

The session is ``--spark-master`` (default: ``local[*]``), or whatever the
standard Spark environment (``SPARK_HOME``, ``spark-defaults.conf``,
``PYSPARK_SUBMIT_ARGS``) configures when the master is ``env``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any

import duckdb

from routectl.simulate import budgets
from routectl.simulate.formats import SAMPLE_LINES
from routectl.simulate.reader import Projection, RowCheck, RowError, projection
from routectl.simulate.scan import (
    MAX_LISTED_ERRORS,
    BadTraffic,
    FileStats,
    Plan,
    Scanned,
    check_constants,
    finish,
    grouped,
    row_columns,
)
from routectl.simulate.sources import TrafficError, TrafficFile

_SESSION: Any = None


def session(master: str | None) -> Any:
    """One SparkSession per process (starting a JVM takes seconds)."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise TrafficError(
            "--engine spark needs PySpark and Java 17: pip install pyspark "
            "(and apt-get install openjdk-17-jre-headless)"
        ) from None
    builder = SparkSession.builder.appName("routectl-simulate")
    master = master or "local[*]"
    if master != "env":
        builder = builder.master(master)
    if master.startswith("local"):  # stay on the loopback interface, no web UI
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * (os.cpu_count() or 1))))
        )
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.sql.execution.arrow.pyspark.enabled", "true"
    )
    try:
        _SESSION = builder.getOrCreate()
    except Exception as exc:  # py4j/JVM start-up errors have no common base
        raise TrafficError(f"cannot start Spark ({master}): {exc}") from None
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def _is_remote(path: str) -> bool:
    return "://" in path


class SparkFormat:
    """Reading one format in Spark, as text columns for :func:`reader.projection`."""

    def frame(self, spark: Any, path: str) -> Any:
        raise NotImplementedError

    def texts(self, schema: Any) -> dict[str, str]:
        return {f.name: _quote(f.name) for f in schema.fields}

    def relation(self, view: str, schema: Any) -> tuple[str, RowCheck | None]:
        return view, None


class SparkCsv(SparkFormat):
    def frame(self, spark: Any, path: str) -> Any:
        sep = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
        return spark.read.option("header", True).option("inferSchema", False).csv(path, sep=sep)


class SparkJsonLines(SparkFormat):
    """Lines of text, each parsed once by ``from_json`` into the keys the file has."""

    def frame(self, spark: Any, path: str) -> Any:
        return spark.read.text(path)

    def keys(self, spark: Any, view: str) -> list[str]:
        rows = spark.sql(
            f"SELECT json_object_keys(value) AS k FROM (SELECT value FROM {view} "
            f"WHERE trim(value) LIKE '{{%' LIMIT {SAMPLE_LINES})"
        ).collect()
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row.k or ()))
        return list(columns)

    def relation_for(self, view: str, keys: list[str]) -> tuple[str, RowCheck, dict[str, str]]:
        fields = (
            "struct<" + (", ".join(f"{_quote(k)}: STRING" for k in keys) or "`_`: STRING") + ">"
        )
        relation = (
            f"(SELECT value AS line, from_json(value, {_string(fields)}) AS _v FROM {view} "
            "WHERE value IS NOT NULL AND trim(value) <> '')"
        )
        good = "ltrim(line) LIKE '{%' AND json_object_keys(line) IS NOT NULL"
        row_problem = RowCheck(
            good,
            "CASE WHEN get_json_object(line, '$') IS NULL THEN 'malformed JSON' "
            "WHEN ltrim(line) NOT LIKE '{%' THEN 'expected a JSON object per line' END",
            ("line",),
        )
        return relation, row_problem, {k: f"_v.{_quote(k)}" for k in keys}


class SparkParquet(SparkFormat):
    def frame(self, spark: Any, path: str) -> Any:
        return spark.read.parquet(path)

    def texts(self, schema: Any) -> dict[str, str]:
        out = {}
        for f in schema.fields:
            kind = f.dataType.simpleString().lower()
            ref = _quote(f.name)
            if kind == "string":
                out[f.name] = ref
            elif kind.startswith(("struct", "map", "array")):
                out[f.name] = f"to_json({ref})"
            else:
                out[f.name] = f"CAST({ref} AS STRING)"
        return out


SPARK_FORMATS: dict[str, SparkFormat] = {
    "csv": SparkCsv(),
    "jsonl": SparkJsonLines(),
    "parquet": SparkParquet(),
}


def _string(text: str) -> str:
    """A Spark SQL string literal (backslashes escape in Spark's literals)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass
class _Opened:
    file: TrafficFile
    index: int
    relation: str
    row_problem: RowCheck | None
    texts: dict[str, str]

    def project(self, need_ts: bool) -> Projection:
        # Which file a row came from: a glob names many.
        relation = f"(SELECT *, input_file_name() AS _file FROM {self.relation})"
        return projection(
            self.file, self.index, self.texts, relation, "spark", need_ts, self.row_problem,
            ("_file",),
        )  # fmt: skip


def _open(spark: Any, file: TrafficFile, index: int) -> _Opened:
    fmt = SPARK_FORMATS[file.format]
    view = f"src_{index}"
    try:
        frame = fmt.frame(spark, file.display)
    except Exception as exc:  # AnalysisException and friends
        message = f"{file.display}: Spark cannot read it: {_first_line(exc)}"
        raise TrafficError(message) from None
    frame.createOrReplaceTempView(view)
    if isinstance(fmt, SparkJsonLines):
        relation, row_problem, texts = fmt.relation_for(view, fmt.keys(spark, view))
    else:
        (relation, row_problem), texts = fmt.relation(view, frame.schema), fmt.texts(frame.schema)
    return _Opened(file, index, relation, row_problem, texts)


def _local_files(file: TrafficFile) -> list[str]:
    path = file.display
    if _is_remote(path):
        return []
    return sorted(glob.glob(path)) if glob.has_magic(path) else [path]


def scan(
    con: duckdb.DuckDBPyConnection,
    files: list[TrafficFile],
    plan: Plan,
    on_error: str,
    master: str | None,
) -> Scanned:
    """Fill DuckDB's ``groups`` (and, for keyed draws, keep ``staged`` in Spark)."""
    check_constants(con, files)
    spark = session(master)
    opened = []
    for index, file in enumerate(files):
        if not _is_remote(file.display) and not _local_files(file):
            raise TrafficError(f"{file.display}: no such traffic file")
        opened.append(_open(spark, file, index))
    given = [frozenset(source.project(need_ts=False).present) for source in opened]
    present: set[str] = set().union(*given)
    if plan.windowed and "timestamp" not in present:
        raise TrafficError(
            "an --outage window needs request timestamps, and the traffic has no timestamp "
            "column; name it with --map timestamp=COLUMN or drop the window"
        )
    need_ts = bool(plan.windowed) or (plan.limits and "timestamp" in present)
    stats = [
        FileStats(f.display, _sha256(f), features=g) for f, g in zip(files, given, strict=True)
    ]
    scanned = Scanned(stats, present)
    union = " UNION ALL ".join(f"({source.project(need_ts).sql})" for source in opened)
    spark.sql(union).createOrReplaceTempView("traffic")
    start = None
    if any(o.relative for o in plan.windowed):
        start = spark.sql("SELECT CAST(min(ts) AS TIMESTAMP_NTZ) FROM traffic").first()[0]
    scanned.by_minute = plan.limits and "timestamp" in present
    scanned.staged = plan.with_keys and bool({"request_id", "session"} & present)
    bad = spark.sql(
        "SELECT src, count(*) AS n FROM traffic WHERE problem IS NOT NULL GROUP BY src"
    ).collect()
    if bad:
        # The engine names each problem and the file; lines are the DuckDB engine's to give.
        rows = spark.sql(
            "SELECT _file, problem FROM traffic WHERE problem IS NOT NULL "
            f"LIMIT {MAX_LISTED_ERRORS}"
        ).collect()
        errors = [RowError(row._file or files[0].display, None, row.problem) for row in rows]
        total = sum(int(row.n) for row in bad)
        if on_error == "fail":
            raise BadTraffic(errors, total)
        scanned.errors = errors
        scanned.skipped = total
        for row in bad:
            scanned.files[int(row.src)].skipped = int(row.n)
        spark.sql("SELECT * FROM traffic WHERE problem IS NULL").createOrReplaceTempView("traffic")
    extra: list[str] = []
    if plan.prepass is not None:
        # Budgets replay their consumers' requests in time order on the driver (DuckDB);
        # what they say about each request is grouped by in Spark like the token classes.
        # Only the metered consumers' requests, and only the columns the pass reads, travel.
        names = ", ".join(_string(name) for name in sorted(plan.metered)) or "NULL"
        columns = ", ".join(budgets.COLUMNS)
        good = f"SELECT {columns} FROM traffic WHERE problem IS NULL AND consumer IN ({names})"
        _to_duckdb(con, spark.sql(good), "budget_rows")
        extra = plan.prepass(con, "SELECT * FROM budget_rows", present)
        con.execute("DROP TABLE budget_rows")
    _stage_and_group(con, spark, plan, scanned, start, extra)
    finish(con, scanned, plan)
    return scanned


def _stage_and_group(
    con: duckdb.DuckDBPyConnection,
    spark: Any,
    plan: Plan,
    scanned: Scanned,
    start: Any,
    extra: list[str],
) -> None:
    """Per-request columns as ``staged`` (keyed draws read it again), grouped into
    DuckDB's ``groups_raw``."""
    row = row_columns(plan, scanned.present, scanned.by_minute, start, "spark", extra)
    spark.sql(f"SELECT {', '.join(row)} FROM traffic").createOrReplaceTempView("staged")
    scanned.states = len(extra)
    _to_duckdb(con, spark.sql(grouped(plan, scanned)), "groups_raw")


def regroup(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run the keyed draws (``sql`` from :func:`draws.regroup`) in Spark; the drawn
    groups land in DuckDB's ``drawn`` table."""
    spark = session(None)
    rows = con.execute("SELECT * FROM fid_draws").fetchall()
    spark.createDataFrame(rows, schema=_schema(con, "fid_draws")).createOrReplaceTempView(
        "fid_draws"
    )
    _to_duckdb(con, spark.sql(sql), "drawn")
    spark.catalog.dropTempView("staged")


def _schema(con: duckdb.DuckDBPyConnection, table: str) -> str:
    kinds = {"BIGINT": "BIGINT", "VARCHAR": "STRING", "TINYINT": "TINYINT", "INTEGER": "INT"}
    return ", ".join(
        f"`{name}` {kinds.get(str(kind), 'STRING')}"
        for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()
    )


def _to_duckdb(con: duckdb.DuckDBPyConnection, frame: Any, name: str) -> None:
    """Bring a grouped Spark table to DuckDB through Arrow (timestamps as naive UTC)."""
    for field in frame.schema.fields:
        if field.dataType.simpleString() == "timestamp":
            frame = frame.withColumn(field.name, frame[field.name].cast("timestamp_ntz"))
    arrow = frame.toArrow()
    con.register(f"{name}_arrow", arrow)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _sha256(file: TrafficFile) -> str:
    if file.location is None:
        return file.sha256()
    return ""  # a glob or a remote URI: no single file to hash


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
