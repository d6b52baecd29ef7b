"""The stable bucket: a sticky key's number in [0, 1), the same in Python and in SQL engines.

The gateway draws arms, experiments and shadows with it; a replay computes it
inside DuckDB or Spark for millions of requests at once. So it is defined on
primitives every engine has: the MD5 digest of the key's UTF-8 bytes as
lower-case hex, of which the first 13 hex digits (52 bits) are read as a whole
number and divided by 2**52. Both steps are exact in IEEE doubles (52 bits fit
the mantissa, the divisor is a power of two), so Python, DuckDB and Spark agree
to the last bit, and so does every comparison with a fraction.

:data:`SQL` is the same definition in each engine's dialect; ``{key}`` is a
VARCHAR/STRING expression. Draws only ever ask whether a bucket is below a
fraction, and for that an engine need not convert anything: ``bucket(key) <
fraction`` exactly when the hex digest sorts before :func:`cut` ``(fraction)``
(the bucket's 13 digits are a whole number *n*, and ``n / 2**52 < f`` exactly
when ``n < ceil(f * 2**52)``; fixed-width lower-case hex sorts as its number).
"""

from __future__ import annotations

import hashlib
import math

HEX_DIGITS = 13
SCALE = float(1 << (4 * HEX_DIGITS))  # 2**52

SQL: dict[str, str] = {
    "duckdb": f"(('0x' || substr(md5({{key}}), 1, {HEX_DIGITS}))::BIGINT::DOUBLE / {SCALE!r})",
    "spark": (
        f"(CAST(conv(substr(md5({{key}}), 1, {HEX_DIGITS}), 16, 10) AS BIGINT) "
        f"/ CAST({SCALE!r} AS DOUBLE))"
    ),
}


def bucket(key: str) -> float:
    """A stable number in [0, 1) for a sticky key: same key, same arm, every run."""
    return int(digest(key)[:HEX_DIGITS], 16) / SCALE


def digest(key: str) -> str:
    """The lower-case hex digest the bucket is read from (SQL: ``md5(key)``)."""
    return hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()


def cut(fraction: float) -> str:
    """The string ``c`` with ``digest(key) < c`` exactly when ``bucket(key) < fraction``."""
    if fraction <= 0:
        return ""  # nothing sorts before the empty string
    threshold = math.ceil(fraction * SCALE)
    if threshold >= SCALE:
        return "g"  # after every hex digit: always below
    return format(threshold, f"0{HEX_DIGITS}x")


DIGEST_SQL: dict[str, str] = {"duckdb": "md5({key})", "spark": "md5({key})"}


def digest_sql(key_sql: str, dialect: str) -> str:
    """:func:`digest` of ``key_sql`` in ``dialect``: compare it with :func:`cut` strings."""
    return DIGEST_SQL[dialect].format(key=key_sql)


def bucket_sql(key_sql: str, dialect: str) -> str:
    """:func:`bucket` of the SQL expression ``key_sql`` in ``dialect`` (duckdb | spark)."""
    return SQL[dialect].format(key=key_sql)
