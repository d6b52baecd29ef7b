"""Small Python-made tables into DuckDB (per-group decisions, couplings, minute lists).

Large ones go through Arrow. Small ones, the usual case, go in as list
parameters unnested by DuckDB: importing pyarrow costs more wall time than the
whole replay of a small trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

ARROW_ABOVE_ROWS = 5_000
_ARROW_TYPES = {"BIGINT": "int64", "VARCHAR": "string", "DOUBLE": "float64"}


def create(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[tuple[str, str]],  # (column name, DuckDB type)
    rows: Sequence[Sequence[Any]],
) -> None:
    """``CREATE OR REPLACE TEMP TABLE name`` holding ``rows``."""
    values: list[list[Any]] = [[] for _ in columns]
    for row in rows:
        for column, value in zip(values, row, strict=True):
            column.append(value)
    if len(rows) > ARROW_ABOVE_ROWS:
        import pyarrow as pa

        table = pa.table(
            [
                pa.array(column, type=getattr(pa, _ARROW_TYPES[kind])())
                for column, (_, kind) in zip(values, columns, strict=True)
            ],
            names=[column for column, _ in columns],
        )
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
        return
    select = ", ".join(
        f"unnest(${index}::{kind}[]) AS {column}" for index, (column, kind) in enumerate(columns, 1)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select}", values)
