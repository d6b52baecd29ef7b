"""The stable bucket is one definition: Python (the gateway) and DuckDB agree on every key.

Spark's half of the agreement is in ``test_simulate_spark.py`` (one shared session).
"""

from __future__ import annotations

import duckdb

from routectl.core.bucket import bucket, bucket_sql, cut, digest, digest_sql

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


FRACTIONS = [0.0, 1e-300, 0.05, 0.25, 0.3, 0.6, 0.7, 0.6 + 0.3, 1 / 3, 0.999999, 1.0, 1.5]


def test_sql_draws_compare_digests_with_cuts_exactly():
    """``digest(key) < cut(f)`` in SQL is ``bucket(key) < f`` in the gateway, at every edge."""
    con = duckdb.connect()
    con.execute("CREATE TABLE k AS SELECT unnest($1::VARCHAR[]) AS key", [KEYS])
    for fraction in FRACTIONS:
        below = {
            key
            for (key,) in con.execute(
                f"SELECT key FROM k WHERE {digest_sql('key', 'duckdb')} < ?", [cut(fraction)]
            ).fetchall()
        }
        assert below == {k for k in KEYS if bucket(k) < fraction}, fraction
    # A bucket exactly on the fraction is not below it; one step above, it is.
    for key in KEYS[:50]:
        exact = bucket(key)
        assert not digest(key) < cut(exact)
        assert digest(key) < cut(exact + 2**-52)
        assert (bucket(key) < exact, bucket(key) < exact + 2**-52) == (False, True)
