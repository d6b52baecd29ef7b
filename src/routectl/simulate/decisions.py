"""``--decisions-out``: every request's predicted route, model, arm, shadows and cost.

One more pass over the traffic, streamed by DuckDB straight into the file
(``COPY … TO``): no request is held in memory. Each row is drawn as the gateway
draws it, the same SQL as the replay's draws except that a request without a
key is drawn on the empty key, as the gateway would (the report counts those
with expected fractions instead). A request's model is where the gateway sends
it first, after the scenario's outages; rate limits are shares of a minute, not
per request, so they are left to the report.

Columns: ``file``, ``request_id``, ``session``, ``consumer``, ``ts``, ``input_tokens``,
``output_tokens``, then per side (``head_``, and ``base_`` with ``--base``):
``route``, ``model`` (NULL: the request fails), ``outcome`` (served, unroutable,
outage), ``reason``, ``arm``, ``experiment``, ``shadows`` (a list) and ``cost``
(USD at the model's list prices).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from routectl.core.policy import Policy
from routectl.core.request import RoutePlan
from routectl.simulate import draws, tables
from routectl.simulate.legs import legs, needs_draw
from routectl.simulate.sources import TrafficError

FORMATS = {".parquet": "(FORMAT PARQUET)", ".jsonl": "(FORMAT JSON)", ".ndjson": "(FORMAT JSON)"}
NO_DRAW = -1


def check_path(path: str) -> None:
    """Fail before the replay, not after it, on a file we cannot write."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise TrafficError(f"--decisions-out {path}: expected a .parquet or .jsonl file")
    if not target.parent.is_dir():
        raise TrafficError(f"--decisions-out {path}: no directory {target.parent}")


def write(
    con: duckdb.DuckDBPyConnection,
    path: str,
    policies: Mapping[str, Policy],
    plans: Mapping[tuple[str, int], RoutePlan],
    downs: Mapping[str, Mapping[int, frozenset[str]]],
    class_keys: list[str],
    route_features: tuple[str, ...],
    file_names: list[str],
    ids: Mapping[draws.Draw, int],
) -> None:
    """Stream one row per request of the ``staged`` view (joined to ``fid_draws``) into
    ``path``."""
    labels = list(policies)
    fids = sorted({fid for _, fid in plans})
    for label in labels:
        _predictions(con, label, policies[label], plans, downs[label], ids, fids)
    tables.create(
        con,
        "file_names",
        (("src", "BIGINT"), ("file", "VARCHAR")),
        list(enumerate(file_names)),
    )
    sql = draws.DrawSQL("duckdb", as_gateway=True)
    codes = draws.code_columns(ids, labels, sql)
    hashes = sql.hash_columns({label: f"d_{label}" for label in labels})
    join = draws.join_condition(route_features, class_keys)
    ids_sql = ", ".join(f"f.d_{label}" for label in labels)
    sides = []
    joins = []
    for label in labels:
        p = f"p_{label}"
        sides += [
            f"{p}.route AS {label}_route",
            f"{p}.model AS {label}_model",
            f"{p}.outcome AS {label}_outcome",
            f"{p}.reason AS {label}_reason",
            f"{p}.arm AS {label}_arm",
            f"{p}.experiment AS {label}_experiment",
            f"{p}.shadows AS {label}_shadows",
            f"(input_tokens::DOUBLE * {p}.price_in + output_tokens::DOUBLE * {p}.price_out)"
            f" / 1000000.0 AS {label}_cost",
        ]
        joins.append(
            f"LEFT JOIN predictions_{label} {p} ON {p}.fid = h.fid AND {p}.ostate = h.ostate "
            f"AND {p}.code = coalesce(h.c_{label}, {NO_DRAW})"
        )
    query = f"""
        SELECT n.file, h.request_id, h.session, h.consumer, h.ts,
               h.input_tokens, h.output_tokens, {", ".join(sides)}
        FROM (
            SELECT x.*, {", ".join(codes)}
            FROM (
                SELECT {", ".join(["r.*", *hashes])}
                FROM (SELECT s.*, f.fid, {ids_sql} FROM staged s JOIN fid_draws f ON {join}) r
            ) x
        ) h
        JOIN file_names n ON n.src = h.src
        {" ".join(joins)}
    """
    target = path.replace("'", "''")
    con.execute(f"COPY ({query}) TO '{target}' {FORMATS[Path(path).suffix.lower()]}")


def _predictions(
    con: duckdb.DuckDBPyConnection,
    label: str,
    policy: Policy,
    plans: Mapping[tuple[str, int], RoutePlan],
    downs: Mapping[int, frozenset[str]],
    ids: Mapping[draws.Draw, int],
    fids: list[int],
) -> None:
    """``predictions_<side>``: for every group, outage state and possible draw code, where
    the request goes (a few rows per group: arms x shadow draws)."""
    out = []
    for fid in fids:
        plan = plans[(label, fid)]
        codes: list[int] = [NO_DRAW]
        if needs_draw(plan):
            arms = [-1] if plan.experiment is not None else []
            arms += list(range(len(plan.arms)))
            codes = [
                (arm + 1) << draws.SHADOW_BITS | mask
                for arm in arms
                for mask in range(1 << len(plan.shadows))
            ]
        for ostate, down in downs.items():
            for code in codes:
                drawn = draws.decision(plan, code) if code != NO_DRAW else None
                shares, shadows = legs(plan, down, drawn)
                leg = max(shares, key=lambda x: x.weight)  # one leg: drawn, or a single arm
                model = leg.steps[0] if leg.steps else None
                info = policy.models.get(model) if model else None
                out.append(
                    (
                        fid,
                        ostate,
                        code,
                        leg.route,
                        model,
                        "served" if model else leg.kind_if_exhausted,
                        None if model else leg.reason_if_exhausted,
                        leg.arm,
                        leg.experiment,
                        "\x1f".join(s.model for s in shadows if s.weight > 0),
                        info.price_input if info else 0.0,
                        info.price_output if info else 0.0,
                    )
                )
    columns = (
        ("fid", "BIGINT"), ("ostate", "BIGINT"), ("code", "BIGINT"), ("route", "VARCHAR"),
        ("model", "VARCHAR"), ("outcome", "VARCHAR"), ("reason", "VARCHAR"), ("arm", "VARCHAR"),
        ("experiment", "VARCHAR"), ("shadow_list", "VARCHAR"), ("price_in", "DOUBLE"),
        ("price_out", "DOUBLE"),
    )  # fmt: skip
    tables.create(con, f"predictions_{label}_rows", columns, out)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE predictions_{label} AS
        SELECT * EXCLUDE (shadow_list),
               CASE WHEN shadow_list = '' THEN []::VARCHAR[]
                    ELSE string_split(shadow_list, chr(31)) END AS shadows
        FROM predictions_{label}_rows
        """
    )
