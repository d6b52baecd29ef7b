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
from typing import Any

import duckdb

from routectl.simulate.reader import RowError
from routectl.simulate.scan import (
    AGGREGATES,
    MAX_LISTED_ERRORS,
    ROUTE_FEATURES,
    BadTraffic,
    FileStats,
    Plan,
    Scanned,
    bad_filter,
    class_keys,
    finish,
    row_columns,
)
from routectl.simulate.sources import (
    TEXT_FEATURES,
    TrafficError,
    TrafficFile,
    match_columns,
)

_INTEGER = ("tinyint", "smallint", "int", "bigint", "byte", "short", "long", "integer")
_NUMERIC = (*_INTEGER, "float", "double", "decimal")
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


def _projection(file: TrafficFile, index: int, schema: Any) -> tuple[str, set[str]]:
    """Spark SQL selecting the normalised schema from the view ``src_<index>``."""
    types = {f.name: f.dataType.simpleString().lower() for f in schema.fields}
    found = match_columns(file, list(types))
    select = [f"CAST({index} AS INT) AS src"]
    for feature in ("timestamp", "input_tokens", "output_tokens", *TEXT_FEATURES):
        alias = "ts" if feature == "timestamp" else feature
        if feature in file.constants:
            value = file.constants[feature].replace("'", "''")
            kind = {"timestamp": "TIMESTAMP", "input_tokens": "BIGINT"}.get(feature, "STRING")
            kind = "BIGINT" if feature == "output_tokens" else kind
            select.append(f"CAST('{value}' AS {kind}) AS {alias}")
            continue
        column = found.get(feature)
        if column is None:
            kind = "TIMESTAMP" if alias == "ts" else "STRING"
            select.append(f"CAST(NULL AS {kind}) AS {alias}")
            continue
        ref = "`" + column.replace("`", "``") + "`"
        select.append(f"{_cast(feature, ref, types[column])} AS {alias}")
    return f"SELECT {', '.join(select)} FROM src_{index}", set(found) | set(file.constants)


def _cast(feature: str, ref: str, kind: str) -> str:
    if feature == "timestamp":
        if kind.startswith(("timestamp", "date")):
            return f"CAST({ref} AS TIMESTAMP)"
        if kind.startswith(_NUMERIC):
            return f"timestamp_micros(CAST({ref} * 1000000 AS BIGINT))"
        return f"try_cast({ref} AS TIMESTAMP)"
    if feature in ("input_tokens", "output_tokens"):
        # A fractional or text token count is bad (NULL, then counted as bad), as in DuckDB.
        whole = f"try_cast({ref} AS BIGINT)"
        if not kind.startswith(_INTEGER):
            whole = (
                f"CASE WHEN try_cast({ref} AS DECIMAL(38, 0)) = try_cast({ref} AS DOUBLE) "
                f"THEN {whole} END"
            )
        if feature == "output_tokens":  # no usage reported: replayed as 0
            return f"CASE WHEN {ref} IS NULL OR CAST({ref} AS STRING) = '' THEN 0 ELSE {whole} END"
        return whole
    if feature == "metadata" and kind.startswith(("struct", "map")):
        return f"to_json({ref})"
    if feature == "requires":  # one canonical text per set, as the DuckDB engine writes it
        items = f"CAST({ref} AS ARRAY<STRING>)"
        if not kind.startswith("array"):
            items = f"split(regexp_replace(CAST({ref} AS STRING), '[\\\\[\\\\]\" ]', ''), ',')"
        return (
            f"nullif(array_join(array_sort(array_distinct(filter({items}, "
            "x -> x IS NOT NULL AND x <> ''))), ','), '')"
        )
    return f"CAST({ref} AS STRING)"


def _reader(spark: Any, file: TrafficFile) -> Any:
    path = file.display
    if file.format == "parquet":
        return spark.read.parquet(path)
    if file.format == "csv":
        sep = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
        return spark.read.option("header", True).option("inferSchema", True).csv(path, sep=sep)
    return spark.read.json(path)


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
    spark = session(master)
    selects, present = [], set()
    for index, file in enumerate(files):
        if not _is_remote(file.display) and not _local_files(file):
            raise TrafficError(f"{file.display}: no such traffic file")
        try:
            frame = _reader(spark, file)
        except Exception as exc:  # AnalysisException and friends
            message = f"{file.display}: Spark cannot read it: {_first_line(exc)}"
            raise TrafficError(message) from None
        frame.createOrReplaceTempView(f"src_{index}")
        sql, found = _projection(file, index, frame.schema)
        selects.append(sql)
        present |= found
    if plan.windowed and "timestamp" not in present:
        raise TrafficError(
            "an --outage window needs request timestamps, and the traffic has no timestamp "
            "column; name it with --map timestamp=COLUMN or drop the window"
        )
    scanned = Scanned([FileStats(f.display, _sha256(f)) for f in files], present)
    need_ts = bool(plan.windowed) or (plan.limits and "timestamp" in present)
    union = " UNION ALL ".join(f"({sql})" for sql in selects)
    start = None
    if any(o.relative for o in plan.windowed):
        start = spark.sql(f"SELECT CAST(min(ts) AS TIMESTAMP_NTZ) FROM ({union})").first()[0]
    scanned.by_minute = plan.limits and "timestamp" in present
    row = row_columns(plan, present, need_ts, scanned.by_minute, start, "spark")
    staged = spark.sql(f"SELECT {', '.join(row)} FROM ({union})")
    # Keyed draws read the traffic again after planning (as the DuckDB engine does).
    scanned.staged = plan.with_keys and bool({"request_id", "session"} & present)
    staged.createOrReplaceTempView("staged")
    keys = ", ".join([*ROUTE_FEATURES, *class_keys(plan, scanned)])
    grouped = spark.sql(
        f"SELECT src, {keys}, minute, ostate, {AGGREGATES} FROM staged GROUP BY ALL"
    )
    _to_duckdb(con, grouped, "groups_raw")
    bad = con.execute("SELECT src, sum(bad) FROM groups_raw GROUP BY src HAVING sum(bad) > 0")
    bad_rows = bad.fetchall()
    if bad_rows:
        errors = [
            RowError(
                files[int(src)].display,
                0,
                f"{int(count)} bad row(s): missing or negative token counts, unparseable "
                "timestamps or metadata that is not a JSON object (the DuckDB engine names "
                "each line)",
            )
            for src, count in bad_rows
        ]
        total = sum(int(count) for _, count in bad_rows)
        if on_error == "fail":
            raise BadTraffic(errors, total)
        scanned.errors = errors[:MAX_LISTED_ERRORS]
        scanned.skipped = total
        for src, count in bad_rows:
            scanned.files[int(src)].skipped = int(count)
        # Token sums and representatives come from the good rows only.
        staged = staged.where("NOT is_bad")
        staged.createOrReplaceTempView("staged")
        grouped = spark.sql(
            f"SELECT src, {keys}, minute, ostate, {AGGREGATES} FROM staged GROUP BY ALL"
        )
        _to_duckdb(con, grouped, "groups_raw")
    if plan.prepass is not None:
        # Budgets replay their consumers' requests in time order on the driver (DuckDB);
        # what they say about each request is grouped by in Spark like the token classes.
        good = f"SELECT * FROM ({union}) WHERE NOT ({bad_filter(False, present, 'spark')})"
        if "consumer" in present:
            good += " AND consumer IS NOT NULL"
        _to_duckdb(con, spark.sql(good), "budget_rows")
        extra = plan.prepass(con, "SELECT * FROM budget_rows")
        con.execute("DROP TABLE budget_rows")
        if extra:
            row = row_columns(plan, present, need_ts, scanned.by_minute, start, "spark", extra)
            staged = spark.sql(f"SELECT {', '.join(row)} FROM ({union})")
            if scanned.skipped:
                staged = staged.where("NOT is_bad")
            staged.createOrReplaceTempView("staged")
            scanned.states = len(extra)
            keys = ", ".join([*ROUTE_FEATURES, *class_keys(plan, scanned)])
            grouped = spark.sql(
                f"SELECT src, {keys}, minute, ostate, {AGGREGATES} FROM staged GROUP BY ALL"
            )
            _to_duckdb(con, grouped, "groups_raw")
    finish(con, scanned, plan)
    return scanned


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
