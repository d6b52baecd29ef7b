"""The shift matrix: how many requests move from base's model to head's model.

Within one request group both policies give a distribution over outcomes (a
model, or ``unroutable``). Shares both send to the same model stay; the rest
of base's shares move to head's extra shares in proportion: the least movement
consistent with both distributions. Rows of the matrix sum to the requests.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb

from routectl.simulate import tables

UNROUTABLE = "unroutable"


def couple(base: dict[str, float], head: dict[str, float]) -> list[tuple[str, str, float]]:
    """Maximal-overlap coupling of two distributions over outcomes (each sums to 1)."""
    out = []
    surplus: dict[str, float] = {}
    deficit: dict[str, float] = {}
    for model in sorted(set(base) | set(head)):
        b, h = base.get(model, 0.0), head.get(model, 0.0)
        stay = min(b, h)
        if stay > 0:
            out.append((model, model, stay))
        if b > stay:
            surplus[model] = b - stay
        if h > stay:
            deficit[model] = h - stay
    moving = sum(deficit.values())
    if moving > 0:
        for source, amount in surplus.items():
            for target, need in deficit.items():
                out.append((source, target, amount * need / moving))
    return out


def shift_matrix(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, float]]:
    """(from, to, requests) from the ``outcomes`` and ``groups`` tables."""
    rows = con.execute(
        f"""
        SELECT uid, ostate, minute, side, coalesce(model, '{UNROUTABLE}'), sum(weight)
        FROM outcomes WHERE kind <> 'shadow'
        GROUP BY ALL
        """
    ).fetchall()
    dists: dict[tuple[int, int, int], dict[str, dict[str, float]]] = defaultdict(
        lambda: {"base": defaultdict(float), "head": defaultdict(float)}
    )
    for uid, ostate, minute, side, model, weight in rows:
        dists[(uid, ostate, minute)][side][model] += weight
    couplings = [
        (*key, source, target, weight)
        for key, sides in dists.items()
        for source, target, weight in couple(sides["base"], sides["head"])
    ]
    keys = (("uid", "BIGINT"), ("ostate", "BIGINT"), ("minute", "BIGINT"))
    columns = (*keys, ("src_model", "VARCHAR"), ("dst_model", "VARCHAR"), ("weight", "DOUBLE"))
    tables.create(con, "couplings", columns, couplings)
    return [
        (str(a), str(b), float(n))
        for a, b, n in con.execute(
            """
            SELECT c.src_model, c.dst_model, sum(g.n * c.weight)
            FROM (SELECT uid, ostate, minute, sum(n) AS n FROM groups GROUP BY ALL) g
            JOIN couplings c USING (uid, ostate, minute)
            GROUP BY ALL ORDER BY 3 DESC, 1, 2
            """
        ).fetchall()
    ]
