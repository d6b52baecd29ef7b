"""One ``routectl simulate`` run: arguments in, report dict out (no printing here)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from routectl.simulate import cascade, decisions, hints, whatif
from routectl.simulate.budgets import SpendError, read_spend
from routectl.simulate.engine import BadTraffic, Engine, Progress, Side, replay
from routectl.simulate.report import Gates, PolicySource, build
from routectl.simulate.sources import TrafficError, parse_pairs, traffic_files


class SimulateFailed(Exception):
    """Bad input: printed as located error lines, exit code 2."""

    def __init__(self, lines: list[str], hint: str | None = None) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines
        self.hint = hint


@dataclass
class SimulateArgs:
    path: str
    traffic: list[str]
    base: str | None = None
    mapping: list[str] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)
    outages: list[str] = field(default_factory=list)
    price_changes: list[str] = field(default_factory=list)
    max_cost_increase: float | None = None
    fail_on_unroutable: bool = False
    max_shift: float | None = None
    on_error: str = "fail"
    spend: str | None = None  # starting budget spend: a JSON file or a gateway URL
    engine: str = "duckdb"
    spark_master: str | None = None
    decisions_out: str | None = None
    escalation_logs: list[str] = field(default_factory=list)


def run(args: SimulateArgs, head: Any, base: Any | None, base_ref: Any, step: Progress) -> dict:
    """``head``/``base`` are :class:`routectl.cli.common.LoadedPolicy` values."""
    try:
        mapping = parse_pairs(args.mapping, "--map")
        constants = parse_pairs(args.constants, "--set")
        files = traffic_files(args.traffic, mapping, constants, remote=args.engine == "spark")
        outages = [whatif.parse_outage(text) for text in args.outages]
        prices = dict(whatif.parse_price_change(text) for text in args.price_changes)
        raw = {"head": head.policy, **({"base": base.policy} if base else {})}
        whatif.check_outages(outages, list(raw.values()))
        whatif.check_price_changes(prices, list(raw.values()))
        policies = {side: whatif.apply_prices(p, prices) for side, p in raw.items()}
        sides = [Side(label, policy) for label, policy in policies.items()]
        starting = {}
        if args.spend is not None:
            starting = read_spend(args.spend, os.environ.get("ROUTECTL_ADMIN_TOKEN"))
        engine = Engine(args.engine, args.spark_master)
        if args.decisions_out:
            if args.engine != "duckdb":
                raise TrafficError("--decisions-out is written by --engine duckdb")
            decisions.check_path(args.decisions_out)
        escalation = None
        if args.escalation_logs:
            escalation = cascade.measure(Path(p) for p in args.escalation_logs)
        result = replay(
            files,
            sides,
            outages,
            args.on_error,
            step,
            starting,
            engine,
            args.decisions_out,
            escalation,
        )
    except BadTraffic as exc:
        lines = [str(e) for e in exc.errors]
        if exc.total > len(exc.errors):
            lines.append(f"… and {exc.total - len(exc.errors)} more bad row(s)")
        raise SimulateFailed(
            lines, "correct those lines, or pass --on-error skip to replay the rest"
        ) from None
    except (TrafficError, SpendError, cascade.EscalationLogError) as exc:
        raise SimulateFailed([str(exc)]) from None
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SimulateFailed([f"cannot read the traffic: {first}"]) from None

    sources = {"head": _head_source(args.path, head)}
    if base is not None:
        ref_path = base_ref.path if base_ref is not None else args.base
        revision = base_ref.revision if base_ref is not None else None
        sources["base"] = PolicySource(
            ref_path, revision, False if revision else None, _prices(base)
        )
    scenario = {
        "outages": [str(o) for o in outages],
        "price_changes": {name: f"x{factor:g}" for name, factor in prices.items()},
    }
    gates = Gates(args.max_cost_increase, args.fail_on_unroutable, args.max_shift)
    report = build(result, policies, sources, scenario, gates, escalation)
    report["warnings"] = hints.warnings(report, result.files)
    return report


def _prices(loaded: Any) -> dict[str, str | None]:
    return {d.name: d.doc.spec.pricing.source for d in loaded.documents if d.kind == "Model"}


def _head_source(path: str, loaded: Any) -> PolicySource:
    """The working tree: its HEAD revision, and whether the policy differs from it."""
    from routectl.loader.git_source import head_revision

    revision = head_revision(path)
    dirty = None
    if revision is not None:
        import git

        try:
            repo = git.Repo(Path(path).resolve(), search_parent_directories=True)
            relative = Path(path).resolve().relative_to(Path(repo.working_dir).resolve())
            dirty = repo.is_dirty(untracked_files=True, path=str(relative))
        except (git.GitError, ValueError):
            dirty = None
    return PolicySource(path, revision, dirty, _prices(loaded))
