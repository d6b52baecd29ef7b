"""How DuckDB reads each traffic format: once, as text columns, bad lines kept aside.

One small class per format on a shared base (what :mod:`spark` does for Spark):

* CSV/TSV: DuckDB's CSV reader with every field as text; a line it cannot parse
  (wrong field count, invalid UTF-8) is kept in a rejects table with its line;
* JSON lines: DuckDB's JSON reader, each key that names a feature as text. It
  refuses a whole file for one malformed line (or a line that is not an object, a
  key given twice, invalid UTF-8), so such a file, and any file with bad rows, is
  read *exactly*: as lines of text, each parsed by DuckDB's JSON functions, where
  a malformed line is one bad row with its line number;
* Parquet: the typed columns, rendered as text.

:mod:`reader` declares what the text means. The scan only counts bad rows;
:func:`locate` reads a file with bad rows again, numbered, to say which lines.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from routectl.simulate.reader import Projection, RowCheck, RowError, literal, projection
from routectl.simulate.sources import TrafficError, TrafficFile, match_columns

SAMPLE_LINES = 20_480  # lines whose keys name a JSON-lines file's columns


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Source:
    """One file opened for reading: its columns and the scan's projection of it."""

    file: TrafficFile
    index: int
    format: Format
    columns: list[str]
    read: str  # the file's read call, its dialect pinned
    types: dict[str, str] = field(default_factory=dict)  # column -> type, when typed
    # False: a quicker read that refuses the whole file rather than name a bad line
    # (:class:`JsonLines`); the scan then sets it and reads the file again.
    exact: bool = True

    def project(self, need_ts: bool, numbered: bool = False) -> Projection:
        return self.format.project(self, need_ts, numbered)


class Format:
    """Reading one format; subclasses override what differs."""

    def open(self, con: duckdb.DuckDBPyConnection, file: TrafficFile, index: int) -> Source:
        raise NotImplementedError

    def texts(self, source: Source) -> dict[str, str]:
        return {name: quote_name(name) for name in source.columns}

    def relation(self, source: Source, numbered: bool) -> tuple[str, RowCheck | None]:
        """FROM clause (numbered: with ``_ordinal``, the row's place in the file) and the
        (good, problem) SQL of a row the format itself could not read."""
        if numbered:
            return f"(SELECT row_number() OVER () AS _ordinal, * FROM {source.read})", None
        return source.read, None

    def project(self, source: Source, need_ts: bool, numbered: bool) -> Projection:
        relation, row_problem = self.relation(source, numbered)
        keep = ("_ordinal", "_before") if numbered else ()
        return projection(
            source.file, source.index, self.texts(source), relation, "duckdb", need_ts,
            row_problem, keep,
        )  # fmt: skip

    def line(self, ordinal: int, before: int) -> int:
        """The line (before counting blank and rejected lines) of the row at ``ordinal``."""
        return ordinal

    def rejects(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
        """(line, message) of the lines the reader could not parse."""
        return []

    def blank_lines(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[int]:
        """Lines the reader skips without numbering them."""
        return []


def _lines_read(path: str, table: str) -> str:
    """A text file as lines, blank ones kept (as NULL): JSON text never holds a raw 0x01."""
    return (
        f"read_csv({literal(path)}, header=false, columns={{'line': 'VARCHAR'}}, "
        "delim=E'\\x01', quote='', escape='', auto_detect=false, strict_mode=false, "
        f"store_rejects=true, rejects_table='{table}', rejects_scan='{table}_scans')"
    )


def _rejected(
    con: duckdb.DuckDBPyConnection, table: str, offsets: bool = False
) -> list[tuple[Any, ...]]:
    """(line, error type, message[, byte offset of the line]) per line the reader rejected."""
    offset = ", min(byte_position)" if offsets else ""
    try:
        return con.execute(
            # One entry per line (a short line is reported once per missing field, and
            # again by every pass that reads the file).
            f"SELECT line, arg_min(error_type, column_idx), arg_min(error_message, column_idx)"
            f"{offset} FROM {table} GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return []  # no read has stored rejects yet


def _reject_message(kind: str, message: str, columns: list[str]) -> str:
    if kind == "INVALID ENCODING":
        return "not valid UTF-8; re-encode the file as UTF-8"
    if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        found = re.search(r"Found: (\d+)", message)
        count = f", found {found.group(1)}" if found else ""
        return f"expected {len(columns)} fields ({', '.join(columns)}){count}"
    return f"malformed CSV: {message.strip().splitlines()[0]}"


class Csv(Format):
    def open(self, con: duckdb.DuckDBPyConnection, file: TrafficFile, index: int) -> Source:
        path = str(file.path)
        delimiter = "\\t" if file.path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
        try:
            sniffed = con.execute(
                f"SELECT Quote, Escape, NewLineDelimiter, SkipRows, Columns FROM sniff_csv("
                f"{literal(path)}, header=true, delim=E'{delimiter}', all_varchar=true, "
                "ignore_errors=true)"
            ).fetchone()
        except duckdb.Error as exc:
            lines = con.execute(
                f"SELECT count(*) FROM {_lines_read(path, f'sniff_rejects_{index}')} "
                "WHERE trim(line) <> ''"
            ).fetchone()[0]
            if not lines:
                message = f"{file.display}: empty CSV file; expected a header line"
                raise TrafficError(message) from None
            raise TrafficError(f"{file.display}: cannot read it as CSV: {_first(exc)}") from None
        quote, escape, newline, skip, described = sniffed
        # The dialect written out, so later passes do not sniff again. A sample without
        # quotes says nothing of the lines after it: CSV's own quote stays on.
        quote = '"' if quote == "(empty)" else quote
        escape = '"' if escape == "(empty)" else escape
        newline = "" if newline == "(empty)" else f", new_line='{newline}'"
        columns = [column["name"] for column in described]
        types = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in columns)
        read = (
            f"read_csv({literal(path)}, auto_detect=false, header=true, delim=E'{delimiter}', "
            f"quote={literal(quote)}, escape={literal(escape)}{newline}, skip={int(skip)}, "
            f"columns={{{types}}}, store_rejects=true, rejects_table='rejects_{index}', "
            f"rejects_scan='rejects_{index}_scans')"
        )
        return Source(file, index, self, columns, read)

    def relation(self, source: Source, numbered: bool) -> tuple[str, RowCheck | None]:
        if not numbered:
            return source.read, None
        # A quoted field may span lines: count them, so later rows get their own line.
        # A blank line inside such a field is counted here, not as a skipped blank line.
        columns = [quote_name(c) for c in source.columns]
        spans = " + ".join(f"coalesce(len(string_split({c}, chr(10))) - 1, 0)" for c in columns)
        inner_blanks = " + ".join(
            f"coalesce(list_count(list_filter(string_split({c}, chr(10))[2:-2], "
            "lambda part: part = '' OR part = chr(13))), 0)"
            for c in columns
        )
        ordered = (
            f"(SELECT row_number() OVER () AS _ordinal, *, ({spans}) - ({inner_blanks}) "
            f"AS _spans FROM {source.read})"
        )
        before = (
            "sum(_spans) OVER (ORDER BY _ordinal ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        return f"(SELECT *, coalesce({before}, 0) AS _before FROM {ordered})", None

    def line(self, ordinal: int, before: int) -> int:
        return 1 + ordinal + before  # the header, then one line per row and its breaks

    def rejects(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
        rejected = _rejected(con, f"rejects_{source.index}", offsets=True)
        if not rejected:
            return []
        # DuckDB counts a record spanning lines as one; the (1-based) byte offset of the
        # error gives the line.
        numbered = (
            "SELECT n, sum(strlen(coalesce(line, '')) + 1) OVER (ORDER BY n ROWS "
            "BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS start FROM (SELECT "
            "row_number() OVER () AS n, line FROM "
            f"{_lines_read(str(source.file.path), f'offset_rejects_{source.index}')})"
        )
        offsets = ", ".join(f"({int(offset)})" for _, _, _, offset in rejected)
        lines = dict(
            con.execute(
                f"SELECT r.o, l.n FROM (VALUES {offsets}) AS r(o) ASOF JOIN ({numbered}) AS l "
                "ON r.o - 1 >= coalesce(l.start, 0)"
            ).fetchall()
        )
        return [
            (int(lines.get(offset, line)), _reject_message(kind, message, source.columns))
            for line, kind, message, offset in rejected
        ]

    def blank_lines(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[int]:
        lines = _lines_read(str(source.file.path), f"blank_rejects_{source.index}")
        rows = con.execute(
            f"SELECT n FROM (SELECT row_number() OVER () AS n, line FROM {lines}) "
            "WHERE line IS NULL OR trim(line) = '' ORDER BY n"
        ).fetchall()
        return [int(n) for (n,) in rows]


class JsonLines(Format):
    def open(self, con: duckdb.DuckDBPyConnection, file: TrafficFile, index: int) -> Source:
        read = _lines_read(str(file.path), f"rejects_{index}")
        try:
            rows = con.execute(
                f"SELECT json_keys(line) FROM (SELECT line FROM {read} "
                f"WHERE trim(line) LIKE '{{%' LIMIT {SAMPLE_LINES}) WHERE json_valid(line)"
            ).fetchall()
        except duckdb.Error as exc:
            raise TrafficError(f"{file.display}: cannot read it: {_first(exc)}") from None
        columns: dict[str, None] = {}
        for (keys,) in rows:
            columns.update(dict.fromkeys(keys))
        source = Source(file, index, self, list(columns), read)
        source.exact = not _used(source)  # no key to read: only the lines are left
        return source

    def texts(self, source: Source) -> dict[str, str]:
        if not source.exact:
            return {name: quote_name(name) for name in _used(source)}
        return {name: f"_v[{i}]" for i, name in enumerate(_used(source), 1)}

    def relation(self, source: Source, numbered: bool) -> tuple[str, RowCheck | None]:
        if not (numbered or source.exact):
            return self._quick(source)
        # Only the keys that name a feature are extracted (a decision log has many more).
        paths = ", ".join(literal("$." + _json_key(name)) for name in _used(source))
        values = f"try(json_extract_string(line, [{paths}]))" if paths else "try(json(line))"
        ordinal = "row_number() OVER () AS _ordinal, 0 AS _before, " if numbered else ""
        lines = f"(SELECT {ordinal}line FROM {source.read})"
        relation = (
            f"(SELECT *, {values} AS _v FROM {lines} "
            "WHERE line IS NOT NULL AND (line LIKE '{%' OR trim(line) <> ''))"
        )
        # Extraction fails (NULL) on malformed JSON; valid JSON that is not an object
        # extracts nothing, so the line must also start an object.
        # (line LIKE first: trimming copies the line, and most lines need no trim.)
        good = "_v IS NOT NULL AND (line LIKE '{%' OR ltrim(line) LIKE '{%')"
        problem = (
            "CASE WHEN _v IS NULL THEN 'malformed JSON' "
            "WHEN ltrim(line) NOT LIKE '{%' THEN 'expected a JSON object per line' END"
        )
        return relation, RowCheck(good, problem, ("_v", "line"))

    def _quick(self, source: Source) -> tuple[str, RowCheck]:
        """The used keys as text columns, by the JSON reader (a fifth quicker than
        parsing lines, and it fails, not skips, on a line it cannot read)."""
        used = _used(source)
        columns = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in used)
        read = (
            f"read_json({literal(str(source.file.path))}, format='newline_delimited', "
            f"records=true, auto_detect=false, columns={{{columns}}})"
        )
        # The reader gives a row of NULLs for a line of `null`, which the exact read
        # calls no object: such a row (or `{}`) sends the file to the exact read.
        empty = " AND ".join(f"{quote_name(name)} IS NULL" for name in used)
        problem = "CASE WHEN _empty THEN 'no key on this line' END"
        return read, RowCheck("NOT _empty", problem, (f"({empty}) AS _empty",))

    def rejects(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[tuple[int, str]]:
        messages = {"INVALID ENCODING": "not valid UTF-8; re-encode the file as UTF-8"}
        return [
            (int(line), messages.get(kind, f"unreadable line: {message}"))
            for line, kind, message in _rejected(con, f"rejects_{source.index}")
        ]


class Parquet(Format):
    def open(self, con: duckdb.DuckDBPyConnection, file: TrafficFile, index: int) -> Source:
        read = f"read_parquet({literal(str(file.path))})"
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()
        except duckdb.Error as exc:
            message = f"{file.display}: not a readable parquet file: {_first(exc)}"
            raise TrafficError(message) from None
        types = {row[0]: str(row[1]) for row in described}
        return Source(file, index, self, list(types), read, types)

    def texts(self, source: Source) -> dict[str, str]:
        return {name: _as_text(quote_name(name), kind) for name, kind in source.types.items()}

    def relation(self, source: Source, numbered: bool) -> tuple[str, RowCheck | None]:
        if not numbered:
            return source.read, None
        read = source.read.removesuffix(")") + ", file_row_number=true)"
        return f"(SELECT file_row_number + 1 AS _ordinal, 0 AS _before, * FROM {read})", None


def _used(source: Source) -> list[str]:
    """The file's columns that name a feature, in the file's order."""
    used = set(match_columns(source.file, source.columns).values())
    return [name for name in source.columns if name in used]


def _as_text(ref: str, kind: str) -> str:
    """A typed Parquet column as the text :mod:`reader` reads."""
    if kind == "VARCHAR":
        return ref
    if kind.startswith(("STRUCT", "MAP", "JSON")) or kind.endswith("]"):
        return f"CAST(to_json({ref}) AS VARCHAR)"
    return f"CAST({ref} AS VARCHAR)"


def _json_key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


FORMATS: dict[str, Format] = {"csv": Csv(), "jsonl": JsonLines(), "parquet": Parquet()}


def open_source(con: duckdb.DuckDBPyConnection, file: TrafficFile, index: int) -> Source:
    return FORMATS[file.format].open(con, file, index)


def has_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> bool:
    """Whether the reader set lines of the file aside (cheap: naming them reads it again)."""
    return bool(_rejected(con, f"rejects_{source.index}"))


def locate(
    con: duckdb.DuckDBPyConnection, source: Source, need_ts: bool, limit: int
) -> tuple[list[RowError], int]:
    """The first ``limit`` bad rows of one file with their lines, and how many there are."""
    fmt = source.format
    numbered = source.project(need_ts, numbered=True)
    bad = f"SELECT _ordinal, _before, problem FROM ({numbered.sql}) WHERE problem IS NOT NULL"
    total = con.execute(f"SELECT count(*) FROM ({bad})").fetchone()[0]
    rows = con.execute(f"{bad} ORDER BY _ordinal LIMIT {limit}").fetchall()
    rejects = fmt.rejects(con, source)
    # Lines the reader did not number: rejected ones and, for CSV, blank ones.
    blank = fmt.blank_lines(con, source) if rows else []
    skipped = sorted({line for line, _ in rejects} | set(blank))
    located = [(line, message) for line, message in rejects]
    for ordinal, before, problem in rows:
        base = line = fmt.line(int(ordinal), int(before))
        while True:  # the row's line, once the unnumbered lines before it are counted
            moved = base + bisect.bisect_right(skipped, line)
            if moved == line:
                break
            line = moved
        located.append((line, problem))
    located.sort()
    errors = [RowError(source.file.display, line, message) for line, message in located[:limit]]
    return errors, int(total) + len(rejects)
