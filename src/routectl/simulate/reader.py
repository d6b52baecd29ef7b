"""One way in for traffic: what each feature's text means, declared once for every engine.

Every format reaches the engines as text columns (see :mod:`formats`: CSV as its
fields, JSON lines parsed by the engine's JSON functions, Parquet's typed columns
rendered as text). :data:`COLUMNS` then says, once, how a feature's text becomes
its normalised value and which texts are bad, with the message a user reads, as
SQL templates; :data:`SPELLING` says how DuckDB and Spark spell the few functions
they name differently. The projection a scan runs is therefore the same for
DuckDB and Spark, for a file's column and for a ``--set`` constant.

Normalised schema: ``src`` (file index), ``ts`` TIMESTAMP (UTC), ``input_tokens``
and ``output_tokens`` BIGINT, VARCHAR ``intent``, ``classification``, ``language``,
``consumer``, ``request_id``, ``session``, ``metadata`` (a JSON object text),
``requires`` (sorted, comma-separated capabilities), ``requested_model``,
``prompt``, and ``problem``: NULL for a good row, else what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from routectl.simulate.sources import TEXT_FEATURES, TrafficFile, match_columns

NEEDS_TIMESTAMP = "missing timestamp; outage windows and rate limits need one per request"

# What the engines spell differently; each entry is an expression of the text ``{x}``.
SPELLING: dict[str, dict[str, str]] = {
    "duckdb": {
        "whole": "regexp_full_match({x}, '[ \t]*[+-]?[0-9]+[ \t]*')",
        "number": (
            "regexp_full_match({x}, "
            "'[ \t]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[ \t]*')"
        ),
        "bigint": "try_cast({x} AS BIGINT)",
        # Naive text is UTC. A TIMESTAMP cast is quick but drops an offset ("+02:00",
        # "-05") or a zone name (" Europe/Berlin", " EST"), so text that may carry
        # one (a "+" or "/", a "-" or a space after the time's ":", a space and no
        # time) goes through TIMESTAMPTZ (the connection's time zone is UTC). Plain
        # tests, not a regular expression: this runs on every row.
        "iso_time": (
            "coalesce(CASE WHEN NOT (contains({x}, '+') OR contains({x}, '/') "
            "OR {x} LIKE '%:%-%' OR {x} LIKE '%:% %' "
            "OR (contains({x}, ' ') AND NOT contains({x}, ':'))) "
            "THEN try_cast({x} AS TIMESTAMP) END, "
            "CAST(try_cast({x} AS TIMESTAMPTZ) AS TIMESTAMP))"
        ),
        "epoch_time": "CAST(to_timestamp(try_cast({x} AS DOUBLE)) AS TIMESTAMP)",
        "is_object": "coalesce(json_type(try_cast({x} AS JSON)), '') = 'OBJECT'",
        "is_array": "coalesce(json_type(try_cast({x} AS JSON)), '') = 'ARRAY'",
        "capabilities": (
            "nullif(array_to_string(list_sort(list_distinct(list_filter("
            "string_split(regexp_replace({x}, '[\\[\\]\" ]', '', 'g'), ','), "
            "lambda c: c IS NOT NULL AND c <> ''))), ','), '')"
        ),
    },
    "spark": {
        "whole": "({x} RLIKE '^[ \t]*[+-]?[0-9]+[ \t]*$')",
        "number": "({x} RLIKE '^[ \t]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[ \t]*$')",
        "bigint": "try_cast({x} AS BIGINT)",
        "iso_time": "try_cast({x} AS TIMESTAMP)",
        "epoch_time": "timestamp_micros(CAST(try_cast({x} AS DOUBLE) * 1000000 AS BIGINT))",
        "is_object": "json_object_keys({x}) IS NOT NULL",
        "is_array": "json_array_length({x}) IS NOT NULL",
        "capabilities": (
            "nullif(array_join(array_sort(array_distinct(filter("
            "split(regexp_replace({x}, '[\\\\[\\\\]\" ]', ''), ','), "
            "c -> c IS NOT NULL AND c <> ''))), ','), '')"
        ),
    },
}

_BLANK = "({x} IS NULL OR trim({x}) = '')"


@dataclass(frozen=True)
class Column:
    """How one feature's text ``{x}`` becomes its value ``{v}``, and which rows are bad.

    ``good`` is a cheap test that passes most good rows on the value alone, so a
    clean trace pays little; the rows it does not pass go through ``checks``, the
    branches of one CASE tried in order: the first whose condition holds gives the
    row's problem (a SQL message, or None when the row is good after all).
    ``{column}`` in a message is where the text came from."""

    value: str
    good: str = ""
    checks: tuple[tuple[str, str | None], ...] = ()


def _tokens(feature: str, blank_is_zero: bool) -> Column:
    negative = f"'{{column}}: negative {feature} ' || CAST({{v}} AS STRING) || '; expected >= 0'"
    not_whole = "'{column}: ''' || {x} || ''' is not a whole number of " + feature + "'"
    missing = f"'{{column}}: missing {feature}; expected a whole number >= 0'"
    # Text that is the number's own rendering ("812") is whole without the pattern test.
    # (Tested first: the blank test trims every row's text, the rendering test does not.)
    canonical = "WHEN CAST({bigint} AS STRING) = {x} THEN {bigint}"
    whole = "WHEN {whole} THEN {bigint}"
    value = f"CASE {canonical} {whole} END"
    if blank_is_zero:  # the gateway logs no output count when the upstream reported none
        value = f"CASE {canonical} WHEN {_BLANK} THEN 0 {whole} END"
    checks = (("{v} >= 0", None), ("{v} < 0", negative), (_BLANK, missing), ("true", not_whole))
    return Column(value, "{v} >= 0", checks)


_TEXT = Column("nullif({x}, '')")
COLUMNS: dict[str, Column] = {
    "timestamp": Column(
        "coalesce({iso_time}, CASE WHEN {number} THEN {epoch_time} END)",
        "{v} IS NOT NULL",
        (
            ("{v} IS NOT NULL", None),
            (_BLANK, "{needs_time}"),  # NULL unless outage windows or rate limits need it
            (
                "true",
                "'{column}: unparseable timestamp ''' || {x} || '''; expected ISO 8601 "
                "(2023-11-16 18:17:03.97 or 2024-05-01T12:00:00Z) or epoch seconds'",
            ),
        ),
    ),
    "input_tokens": _tokens("input_tokens", blank_is_zero=False),
    "output_tokens": _tokens("output_tokens", blank_is_zero=True),
    **{feature: _TEXT for feature in TEXT_FEATURES},
    "metadata": Column(
        "nullif({x}, '')",
        "{x} IS NULL",
        (
            (_BLANK, None),
            ("ltrim({x}) LIKE '{{%' AND {is_object}", None),
            ("true", "'metadata: expected a JSON object of strings'"),
        ),
    ),
    # One canonical text per set of capabilities ("tools,vision"), so equal sets group.
    "requires": Column(
        "{capabilities}",
        "{x} IS NULL OR ltrim({x}) NOT LIKE '[%'",
        (
            ("{x} IS NULL OR ltrim({x}) NOT LIKE '[%' OR {is_array}", None),
            ("true", "'requires: expected a list of capabilities'"),
        ),
    ),
}
_ALIAS = {"timestamp": "ts"}
_TYPE = {"timestamp": "TIMESTAMP", "input_tokens": "BIGINT", "output_tokens": "BIGINT"}


def render(template: str, dialect: str, x: str, column: str = "", **names: str) -> str:
    """``template`` with the engine's spellings, for the text ``x`` from ``column``."""
    spelled = {name: sql.format(x=x) for name, sql in SPELLING[dialect].items()}
    return template.format(x=x, column=column.replace("'", "''"), **spelled, **names)


def checked(column: Column, dialect: str, x: str, where: str, v: str, needs_time: str) -> str:
    """The CASE naming what is wrong with a row's ``column`` (NULL when nothing is)."""
    branches = []
    for test, message in column.checks:
        then = "CAST(NULL AS STRING)"
        if message is not None:
            then = render(message, dialect, x, where, v=v, needs_time=needs_time)
        branches.append(f"WHEN {render(test, dialect, x, where, v=v)} THEN {then}")
    return f"CASE {' '.join(branches)} END"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class RowError:
    file: str
    line: int | None  # 1-based line (csv/jsonl) or row (parquet); None when not known
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RowCheck:
    """A row the format itself cannot read: SQL over ``uses``, the source's columns (or
    expressions of them) the inner layer passes on."""

    good: str
    problem: str
    uses: tuple[str, ...]


@dataclass(frozen=True)
class Projection:
    """The normalised columns of one file, as SQL over its text columns."""

    sql: str
    present: set[str]  # features the file gives (a column or a constant)


def projection(
    file: TrafficFile,
    index: int,
    texts: dict[str, str],
    source: str,
    dialect: str,
    need_ts: bool,
    row_problem: RowCheck | None = None,
    keep: tuple[str, ...] = (),
) -> Projection:
    """SELECT the normalised schema from ``source``, whose columns (by name) are the SQL
    texts in ``texts``. ``row_problem``: a row the format itself could not read
    (malformed JSON), checked before any column; ``keep``: source columns passed
    through (a line number).

    Two layers: the inner one computes each value once, the outer one checks the
    values (and, for bad rows only, the texts they came from)."""
    found = match_columns(file, list(texts))
    needs_time = literal(NEEDS_TIMESTAMP) if need_ts else "CAST(NULL AS STRING)"
    inner = [f"CAST({index} AS INT) AS src", *keep]
    outer = ["src"]
    problems, goods = [], []
    if row_problem:
        inner.extend(row_problem.uses)
        goods.append(row_problem.good)
        problems.append(row_problem.problem)
    for i, (feature, column) in enumerate(COLUMNS.items()):
        alias = _ALIAS.get(feature, feature)
        outer.append(alias)
        if feature in file.constants:
            x, where = literal(file.constants[feature]), f"--set {feature}"
        elif feature in found:
            x, where = texts[found[feature]], found[feature]
        else:
            inner.append(f"CAST(NULL AS {_TYPE.get(feature, 'STRING')}) AS {alias}")
            if feature == "timestamp" and need_ts:
                problems.append(needs_time)
            continue
        inner.append(f"{render(column.value, dialect, x, where)} AS {alias}")
        if column.checks:
            inner.append(f"{x} AS _x{i}")
            goods.append(render(column.good, dialect, f"_x{i}", where, v=alias))
            problems.append(checked(column, dialect, f"_x{i}", where, alias, needs_time))
    problem = f"coalesce({', '.join(problems)})" if problems else "CAST(NULL AS STRING)"
    if goods and len(goods) == len(problems):
        problem = f"CASE WHEN {' AND '.join(f'({g})' for g in goods)} THEN NULL ELSE {problem} END"
    outer += [f"{problem} AS problem", *keep]
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source})"
    return Projection(sql, set(found) | set(file.constants))


def constant_problems(file: TrafficFile) -> list[tuple[str, str]]:
    """(feature, SQL yielding what is wrong with its ``--set`` value, or NULL)."""
    out = []
    for feature, value in file.constants.items():
        column = COLUMNS[feature]
        if column.checks:
            x = literal(value)
            v = f"({render(column.value, 'duckdb', x)})"
            out.append((feature, checked(column, "duckdb", x, f"--set {feature}", v, "NULL")))
    return out
