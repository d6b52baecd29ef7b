"""Read traffic files into one DuckDB relation of normalised request features.

Two paths, so that clean traces are read at DuckDB's speed and bad ones are
reported precisely:

* fast: DuckDB reads the file (``read_csv``/``read_json``/``read_parquet``, gzip
  included) and a projection casts columns to the normalised schema;
* checked: when the fast path fails (a cast error) or finds bad values
  (negative or missing tokens, missing timestamps, invalid metadata), the file
  is re-read row by row in Python to say which line is wrong and why; with
  ``--on-error skip`` the good rows are kept (as an Arrow table) and the bad
  ones counted.

Normalised schema: ``src`` (file index), ``ts`` TIMESTAMP (UTC), ``input_tokens``
and ``output_tokens`` BIGINT, and VARCHAR ``intent``, ``classification``,
``language``, ``consumer``, ``request_id``, ``session``, ``metadata`` (a JSON object).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from routectl.simulate.sources import TEXT_FEATURES, TrafficError, TrafficFile, match_columns

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_NUMERIC_TYPES = (*_INTEGER_TYPES, "UBIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


@dataclass(frozen=True)
class RowError:
    file: str
    line: int  # 1-based line (csv/jsonl) or row (parquet)
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scan_sql(file: TrafficFile) -> str:
    path = quote(str(file.path))
    if file.format == "csv":
        delimiter = "\\t" if _is_tsv(file) else ","
        return f"read_csv({path}, header=true, delim='{delimiter}')"
    if file.format == "jsonl":
        return f"read_json({path}, format='newline_delimited')"
    return f"read_parquet({path})"


def _is_tsv(file: TrafficFile) -> bool:
    return file.path.name.lower().removesuffix(".gz").endswith(".tsv")


def describe(
    con: duckdb.DuckDBPyConnection, file: TrafficFile
) -> tuple[list[tuple[str, str]], str] | None:
    """(column, type) pairs as DuckDB sniffs them, and the file's read call with what was
    sniffed written out (dialect, columns, types), so later passes do not sniff again;
    None when DuckDB cannot even sniff the file."""
    source = scan_sql(file)
    columns = sniff_columns(con, file)
    if columns is None:
        return None
    try:
        pinned = _pinned(con, file, columns)
        con.execute(f"DESCRIBE SELECT * FROM {pinned}").fetchall()
    except duckdb.Error:
        pinned = source  # sniff on every pass rather than fail
    return columns, pinned


def sniff_columns(
    con: duckdb.DuckDBPyConnection, file: TrafficFile
) -> list[tuple[str, str]] | None:
    """(column, type) pairs as DuckDB sniffs them; None when it cannot."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan_sql(file)}").fetchall()
    except duckdb.Error:
        return None
    return [(row[0], str(row[1])) for row in rows]


def _pinned(con: duckdb.DuckDBPyConnection, file: TrafficFile, columns: list[tuple[str, str]]):
    if file.format == "parquet":
        return scan_sql(file)  # no sniffing: the schema is in the file
    if file.format == "csv":
        delimiter = "\\t" if _is_tsv(file) else ","
        prompt = con.execute(
            f"SELECT Prompt FROM sniff_csv({quote(str(file.path))}, header=true, "
            f"delim=E'{delimiter}')"
        ).fetchone()[0]
        return prompt.strip().removeprefix("FROM ").removesuffix(";")
    # A column null throughout the sniffed sample may hold text further on.
    null = '"NULL"'
    types = ", ".join(
        f"{quote(name)}: {quote('VARCHAR' if kind == null else kind)}" for name, kind in columns
    )
    return f"read_json({quote(str(file.path))}, format='newline_delimited', columns={{{types}}})"


def fast_projection(
    file: TrafficFile, index: int, columns: list[tuple[str, str]], source: str
) -> tuple[str, set[str]] | None:
    """SQL selecting the normalised schema from the file, and the features it has.

    None when a column's type cannot be cast safely (e.g. tokens sniffed as
    text or decimals): the checked path reads such files.
    """
    types = dict(columns)
    found = match_columns(file, [name for name, _ in columns])
    select = [f"{index}::INTEGER AS src"]
    for feature in ("timestamp", "input_tokens", "output_tokens", *TEXT_FEATURES):
        alias = "ts" if feature == "timestamp" else feature
        if feature in file.constants:
            select.append(f"{_constant_sql(file, feature)} AS {alias}")
            continue
        column = found.get(feature)
        if column is None:
            select.append(f"NULL::{'TIMESTAMP' if alias == 'ts' else 'VARCHAR'} AS {alias}")
            continue
        ref = '"' + column.replace('"', '""') + '"'
        kind = types[column].upper()
        expression = _cast(feature, ref, kind)
        if expression is None:
            return None
        select.append(f"{expression} AS {alias}")
    present = set(found) | set(file.constants)
    return f"SELECT {', '.join(select)} FROM {source}", present


def _cast(feature: str, ref: str, kind: str) -> str | None:
    if feature == "timestamp":
        if kind.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"{ref}::TIMESTAMP"
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            return f"{ref}::TIMESTAMP"
        if kind.startswith(_NUMERIC_TYPES):
            return f"to_timestamp({ref}::DOUBLE)::TIMESTAMP"
        if kind == "VARCHAR":
            return f"CAST({ref} AS TIMESTAMPTZ)::TIMESTAMP"
        return None
    if feature == "output_tokens" and kind in _INTEGER_TYPES:
        # The gateway logs null when the upstream reported no usage: replayed as 0.
        return f"coalesce({ref}::BIGINT, 0)"
    if feature == "input_tokens":
        return f"{ref}::BIGINT" if kind in _INTEGER_TYPES else None
    if feature == "output_tokens":
        return None
    if feature == "metadata":
        if kind == "VARCHAR":
            return ref
        if kind.startswith(("STRUCT", "MAP", "JSON")):
            return f"to_json({ref})::VARCHAR"
        return None
    if feature == "requires":
        # One canonical text per set of capabilities ("tools,vision"), so equal sets group.
        if kind.endswith("[]"):
            items = f"{ref}::VARCHAR[]"
        elif kind == "VARCHAR":
            items = f"string_split(regexp_replace({ref}, '[\\[\\]\" ]', '', 'g'), ',')"
        else:
            return None
        return (
            f"nullif(array_to_string(list_sort(list_distinct("
            f"list_filter({items}, x -> x IS NOT NULL AND x <> ''))), ','), '')"
        )
    return ref if kind == "VARCHAR" else f"{ref}::VARCHAR"


def _constant_sql(file: TrafficFile, feature: str) -> str:
    value = file.constants[feature]
    if feature in ("input_tokens", "output_tokens"):
        return f"{_token_constant(file, feature, value)}::BIGINT"
    if feature == "timestamp":
        return f"{quote(_parse_time(value).isoformat())}::TIMESTAMP"
    return f"{quote(value)}::VARCHAR"


def _token_constant(file: TrafficFile, feature: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise TrafficError(f"--set {feature}={value}: expected a whole number >= 0")
    return number


# --------------------------------------------------------------------------- checked path


@dataclass
class CheckedFile:
    table: Any  # pyarrow.Table with the normalised schema (without src)
    present: set[str]
    errors: list[RowError]
    bad_rows: int


def read_checked(file: TrafficFile, need_timestamp: bool) -> CheckedFile:
    """Read ``file`` row by row, validating every field; bad rows are reported by line."""
    import pyarrow as pa

    rows = {name: [] for name in ("ts", "input_tokens", "output_tokens", *TEXT_FEATURES)}
    errors: list[RowError] = []
    bad = 0
    present: set[str] = set(file.constants)
    header: list[str] | None = None
    found: dict[str, str] = {}
    for line, record, problem in _records(file):
        if problem is not None:
            bad += 1
            errors.append(RowError(file.display, line, problem))
            continue
        if header is None:
            header = list(record)
            found = match_columns(file, header)
            present |= set(found)
        message = None
        try:
            values = _row_values(file, found, record, need_timestamp)
        except ValueError as exc:
            message = str(exc)
        if message is not None:
            bad += 1
            errors.append(RowError(file.display, line, message))
            continue
        for name, value in values.items():
            rows[name].append(value)
    if header is None and not errors:
        header = []
    schema = pa.schema(
        [
            ("ts", pa.timestamp("us")),
            ("input_tokens", pa.int64()),
            ("output_tokens", pa.int64()),
            *[(name, pa.string()) for name in TEXT_FEATURES],
        ]
    )
    table = pa.Table.from_pydict(rows, schema=schema)
    return CheckedFile(table, present, errors, bad)


def _records(file: TrafficFile) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(line, record, problem) for every data row; problem set when it cannot be parsed."""
    if file.format == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file.path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise TrafficError(f"{file.display}: not a readable parquet file: {exc}") from None
        for number, record in enumerate(table.to_pylist(), 1):
            yield number, record, None
        return
    lines = _decoded_lines(file)
    if file.format == "jsonl":
        for number, text, problem in lines:
            if problem is not None:
                yield number, {}, problem
                continue
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, {}, f"malformed JSON at column {exc.colno}: {exc.msg}"
                continue
            if not isinstance(record, dict):
                yield number, {}, "expected a JSON object per line"
                continue
            yield number, record, None
        return
    yield from _csv_records(file, lines)


def _csv_records(
    file: TrafficFile, lines: Iterator[tuple[int, str, str | None]]
) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    header: list[str] | None = None
    delimiter = "\t" if _is_tsv(file) else ","
    for number, text, problem in lines:
        if problem is not None:
            yield number, {}, problem
            continue
        if not text.strip():
            continue
        try:
            fields = next(csv.reader([text], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            yield number, {}, f"malformed CSV: {exc}"
            continue
        if header is None:
            header = [f.strip() for f in fields]
            continue
        if len(fields) != len(header):
            yield (
                number,
                {},
                f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}",
            )
            continue
        yield number, dict(zip(header, fields, strict=True)), None
    if header is None:
        raise TrafficError(f"{file.display}: empty CSV file; expected a header line")


def _decoded_lines(file: TrafficFile) -> Iterator[tuple[int, str, str | None]]:
    opener = gzip.open if file.gzip else open
    try:
        with opener(file.path, "rb") as handle:
            for number, raw in enumerate(io.BufferedReader(handle), 1):  # type: ignore[arg-type]
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n"), None
                except UnicodeDecodeError as exc:
                    yield (
                        number,
                        "",
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1});"
                        " re-encode the file as UTF-8",
                    )
    except (OSError, EOFError) as exc:
        raise TrafficError(f"{file.display}: cannot read: {exc}") from None


def _row_values(
    file: TrafficFile, found: dict[str, str], record: dict[str, Any], need_timestamp: bool
) -> dict[str, Any]:
    def raw(feature: str) -> Any:
        if feature in file.constants:
            return file.constants[feature]
        column = found.get(feature)
        return None if column is None else record.get(column)

    values: dict[str, Any] = {}
    for feature in ("input_tokens", "output_tokens"):
        value = raw(feature)
        if feature == "output_tokens" and value in (None, ""):
            value = 0  # as the fast path: no usage reported
        values[feature] = _tokens(feature, value, found.get(feature, feature))
    stamp = raw("timestamp")
    if stamp in (None, ""):
        if need_timestamp:
            raise ValueError(
                "missing timestamp; outage windows and rate limits need one per request"
            )
        values["ts"] = None
    else:
        values["ts"] = _parse_time(stamp, found.get("timestamp", "timestamp"))
    for feature in TEXT_FEATURES:
        value = raw(feature)
        if feature == "metadata":
            value = _metadata(value)
        elif feature == "requires":
            value = canonical_requires(value)
        values[feature] = None if value in (None, "") else str(value)
    return values


def _tokens(feature: str, value: Any, column: str) -> int:
    if value is None or value == "":
        raise ValueError(f"{column}: missing {feature}; expected a whole number >= 0")
    try:
        number = int(value) if not isinstance(value, float) else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool):
        raise ValueError(f"{column}: {value!r} is not a whole number of {feature}")
    if number < 0:
        raise ValueError(f"{column}: negative {feature} {number}; expected >= 0")
    return number


def _parse_time(value: Any, column: str = "timestamp") -> datetime:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        stamp = datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).strip()
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{column}: unparseable timestamp {text!r}; expected ISO 8601 "
                "(2023-11-16 18:17:03.97 or 2024-05-01T12:00:00Z) or epoch seconds"
            ) from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def canonical_requires(value: Any) -> str | None:
    """Capabilities as one sorted, comma-separated text ("tools,vision"), None for none."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("requires: expected a list of capabilities") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("requires: expected a list of capabilities")
    items = sorted({str(item).strip() for item in value if item not in (None, "")} - {""})
    return ",".join(items) or None


def _metadata(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("metadata: expected a JSON object of strings") from None
    if not isinstance(value, dict):
        raise ValueError("metadata: expected a JSON object of strings")
    return json.dumps({str(k): str(v) for k, v in sorted(value.items())}, separators=(",", ":"))
