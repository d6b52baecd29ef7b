"""Sticky draws inside the engine: each keyed request's arm and shadows as SQL.

The gateway draws a request's arm and shadows with :func:`routectl.core.evaluator.choose`:
the stable bucket (:mod:`routectl.core.bucket`) of a key made of a name and the
request's sticky key, compared with the plan's fractions. A replay computes the
same comparisons in SQL for every row, so a trace with millions of request ids
is drawn and counted inside DuckDB or Spark without a Python object per request.

A plan's draw is reduced to a :class:`Draw` (the names, sticky keys and cut
points it compares with); plans that draw alike share one. Each row gets one
code per policy side: ``(arm + 1) << SHADOW_BITS | shadows`` where ``arm`` is
the index of the drawn arm (-1: the experiment's candidate) and ``shadows`` has
bit *i* set when shadow *i* is drawn (the drawn arm's own primary is dropped
later, as ``choose`` drops it). A row that lacks a key its plan hashes gets
NULL: the gateway would draw it on the empty key, so it counts with expected
fractions instead. ``tests/simulate/test_simulate_sticky.py`` checks every
code against a per-request ``choose`` loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from routectl.core.bucket import cut, digest_sql
from routectl.core.request import Arm, Decision, RoutePlan
from routectl.simulate.legs import needs_draw

SHADOW_BITS = 16


@dataclass(frozen=True)
class Draw:
    experiment: tuple[str, str | None, float] | None  # name, stickyBy, fraction
    route: tuple[str, str, tuple[float, ...]] | None  # name, stickyBy, cumulative cut points
    shadows: tuple[tuple[str, float], ...]  # ("shadow:<source>:<model>:", fraction)


def draw_of(plan: RoutePlan) -> Draw:
    """What ``choose`` compares for this plan (the plan must draw something)."""
    experiment = None
    if plan.experiment is not None:
        experiment = (
            plan.experiment.experiment or "",
            plan.experiment_sticky_by,
            plan.experiment.fraction,
        )
    route = None
    if len(plan.arms) > 1:
        cuts, cumulative = [], 0.0
        for arm in plan.arms[:-1]:  # the same float additions as the evaluator's loop
            cumulative += arm.fraction
            cuts.append(cumulative)
        route = (plan.route or "", plan.route_sticky_by, tuple(cuts))
    shadows = tuple((f"shadow:{s.source}:{s.model}:", s.fraction) for s in plan.shadows)
    if len(shadows) > SHADOW_BITS:  # pragma: no cover - a route has a handful of shadows
        raise ValueError(f"route {plan.route}: more than {SHADOW_BITS} shadows")
    return Draw(experiment, route, shadows)


def decision(plan: RoutePlan, code: int) -> Decision:
    """The decision a row's draw code stands for (only arm, primary and shadows are read)."""
    index = (code >> SHADOW_BITS) - 1
    arm: Arm = plan.experiment if index < 0 else plan.arms[index]  # type: ignore[assignment]
    shadows = tuple(
        s.model for bit, s in enumerate(plan.shadows) if code >> bit & 1 and s.model != arm.primary
    )
    return Decision(
        intent=plan.intent,
        classification=plan.classification,
        route=plan.route,
        primary=arm.primary,
        fallbacks=arm.fallbacks,
        shadows=shadows,
        arm=arm.label,
        experiment=arm.experiment,
        triggers=plan.triggers,
        trace=(),
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sticky_sql(sticky_by: str | None) -> str:
    """``routectl.core.evaluator.sticky_key`` over the row's columns."""
    fallback = "coalesce(request_id, '')"
    if sticky_by in ("consumer", "session"):
        return f"CASE WHEN {sticky_by} <> '' THEN {sticky_by} ELSE {fallback} END"
    return fallback


class DrawSQL:
    """SQL for the draw codes of many :class:`Draw` values in one dialect.

    Each distinct hashed key becomes one column (``h0``, ``h1`` …): its digest,
    computed once per row, only for rows whose draw needs it (base and head usually
    share them), and compared with :func:`routectl.core.bucket.cut` strings.
    """

    def __init__(self, dialect: str, as_gateway: bool = False) -> None:
        self.dialect = dialect
        # True: a row without a key is drawn on the empty key, as the gateway draws it
        # (per-request predictions); False: it gets NULL and counts with fractions.
        self.as_gateway = as_gateway
        self.hashes: dict[str, tuple[int, set[int]]] = {}  # key SQL -> (column, draw ids)

    def _hash(self, key_sql: str, draw_id: int) -> str:
        column, users = self.hashes.setdefault(key_sql, (len(self.hashes), set()))
        users.add(draw_id)
        return f"h{column}"

    def code(self, draw: Draw, draw_id: int) -> str:
        """The draw code of one row (BIGINT), NULL when the row lacks a key."""
        needed = []
        arm = "0"
        if draw.route is not None:
            name, sticky_by, cuts = draw.route
            key = _sticky_sql(sticky_by)
            needed.append(f"{key} <> ''")
            point = self._hash(f"{_quote(name + ':')} || {key}", draw_id)
            whens = " ".join(
                f"WHEN {point} < {_quote(cut(c))} THEN {i}" for i, c in enumerate(cuts)
            )
            arm = f"CASE {whens} ELSE {len(cuts)} END"
        if draw.experiment is not None:
            name, sticky_by, fraction = draw.experiment
            key = _sticky_sql(sticky_by)
            needed.append(f"{key} <> ''")
            point = self._hash(f"{_quote(name + ':')} || {key}", draw_id)
            arm = f"CASE WHEN {point} < {_quote(cut(fraction))} THEN -1 ELSE {arm} END"
        bits = []
        if draw.shadows:
            needed.append("request_id <> ''")
            for bit, (prefix, fraction) in enumerate(draw.shadows):
                point = self._hash(f"{_quote(prefix)} || coalesce(request_id, '')", draw_id)
                below = f"{point} < {_quote(cut(fraction))}"
                bits.append(f"CASE WHEN {below} THEN {1 << bit} ELSE 0 END")
        shadows = " + ".join(bits) if bits else "0"
        value = f"CAST((({arm}) + 1) * {1 << SHADOW_BITS} + {shadows} AS BIGINT)"
        if self.as_gateway:
            return value
        return f"CASE WHEN {' AND '.join(needed)} THEN {value} END"

    def hash_columns(self, draw_column: Mapping[str, str]) -> list[str]:
        """``bucket(...) AS hN`` per hashed key; ``draw_column`` maps each side to the column
        holding the row's draw id, so a key is hashed only for rows whose draw uses it."""
        out = []
        for key_sql, (column, users) in self.hashes.items():
            ids = ", ".join(str(i) for i in sorted(users))
            wanted = " OR ".join(f"{c} IN ({ids})" for c in draw_column.values())
            hashed = digest_sql(key_sql, self.dialect)
            out.append(f"CASE WHEN {wanted} THEN {hashed} END AS h{column}")
        return out


def draw_ids(
    plans: Mapping[tuple[str, int], RoutePlan], labels: list[str], fids: list[int]
) -> tuple[dict[Draw, int], list[tuple[int | None, ...]]]:
    """One id per distinct draw, and ``(fid, draw id per side)`` rows (None: no draw)."""
    ids: dict[Draw, int] = {}
    rows: list[tuple[int | None, ...]] = []
    for fid in fids:
        row: list[int | None] = [fid]
        for label in labels:
            plan = plans[(label, fid)]
            row.append(ids.setdefault(draw_of(plan), len(ids) + 1) if needs_draw(plan) else None)
        rows.append(tuple(row))
    return ids, rows


def code_columns(ids: Mapping[Draw, int], labels: list[str], sql: DrawSQL) -> list[str]:
    """``c_<side>``: each row's draw code under each side, from its draw id ``d_<side>``."""
    out = []
    for label in labels:
        whens = " ".join(f"WHEN {i} THEN {sql.code(d, i)}" for d, i in ids.items())
        out.append(f"CASE d_{label} {whens} END AS c_{label}" if ids else f"NULL AS c_{label}")
    return out


def join_condition(route_features: tuple[str, ...], class_keys: list[str]) -> str:
    """``staged s`` to ``fid_draws f``: the same route features and token classes."""
    return " AND ".join(
        [f"s.{f} IS NOT DISTINCT FROM f.{f}" for f in route_features]
        + [f"s.{k} = f.{k}" for k in class_keys]
    )


def regroup(
    ids: Mapping[Draw, int],
    labels: list[str],
    route_features: tuple[str, ...],
    class_keys: list[str],
    dialect: str,
) -> str:
    """SQL grouping ``staged`` rows by (feature group, minute, outage state, draw code per
    side); ``fid_draws`` (see :func:`draw_ids`) names each group's features and draw ids."""
    sql = DrawSQL(dialect)
    codes = code_columns(ids, labels, sql)
    hashes = sql.hash_columns({label: f"d_{label}" for label in labels})
    join = join_condition(route_features, class_keys)
    ids_sql = ", ".join(f"f.d_{label}" for label in labels)
    hashed = ", ".join(["r.*", *hashes])
    return f"""
        SELECT fid, minute, ostate, {", ".join(codes)},
               count(*) AS n, sum(input_tokens) AS tin, sum(output_tokens) AS tout,
               min(ts) AS ts_min, max(ts) AS ts_max
        FROM (
            SELECT {hashed}
            FROM (SELECT s.*, f.fid, {ids_sql} FROM staged s JOIN fid_draws f ON {join}) r
        ) h
        GROUP BY fid, minute, ostate, {", ".join(f"c_{label}" for label in labels)}
    """
