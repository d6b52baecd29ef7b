"""The stable bucket is one definition: Python (the gateway) and DuckDB agree on every key.

Spark's half of the agreement is in ``test_simulate_spark.py`` (one shared session).
"""

from __future__ import annotations

import duckdb

from routectl.core.bucket import bucket, bucket_sql

KEYS = [
    "",
    "lightweight:ticket-1",
    "try-m3:s-7",
    "shadow:route:split:m3:req-42",
    "zürich:ünïcode-✓",
    "x" * 300,
    *[f"route-{n}:req-{n * 7919}" for n in range(500)],
]


def test_duckdb_and_python_give_the_same_bucket():
    con = duckdb.connect()
    con.execute("CREATE TABLE k AS SELECT unnest($1::VARCHAR[]) AS key", [KEYS])
    rows = con.execute(f"SELECT key, {bucket_sql('key', 'duckdb')} FROM k").fetchall()
    assert len(rows) == len(KEYS)
    for key, value in rows:
        assert value == bucket(key), key  # bit for bit, not approximately
    values = [bucket(k) for k in KEYS]
    assert all(0.0 <= v < 1.0 for v in values)
    assert len(set(values)) == len(values)
