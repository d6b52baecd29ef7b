"""The pull-request comment: lint, test, simulate and plan results in one body.

Inputs are the JSON documents the commands print (``lint --format json``,
``test --format json``, ``simulate --format json``, ``plan --format json`` or a
plan saved with ``--out``), so the comment shows exactly what the checks found.
The simulate and plan sections are the same markdown those commands print with
``--format markdown``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routectl.report.markdown import COMMENT_BUDGET, fold_middle, render

MARKER_PREFIX = "<!-- routectl:pr-comment"
ROWS_SHOWN = 50


def marker(name: str = "") -> str:
    """The hidden line that finds the comment again; ``name`` tells several policies apart."""
    return f"{MARKER_PREFIX}{':' + name if name else ''} -->"


class InputError(Exception):
    """An input document is missing or not what its option says it is."""


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class CommentInput:
    lint: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    simulate: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    title: str = ""
    commit: str = ""
    name: str = ""
    checks: list[Check] = field(default_factory=list)


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the {what} report {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise InputError(
            f"{path}:{line}:{col}: not a {what} report (invalid JSON); "
            f"write it with routectl {what} --format json"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a {what} report (expected a JSON object)")
    return data


def _require(doc: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise InputError(
            f"the {what} report lacks {', '.join(missing)}; write it with "
            f"routectl {what} --format json"
        )


def checks(inp: CommentInput) -> list[Check]:
    """One line per check that ran, derived from its report."""
    out: list[Check] = []
    if inp.lint is not None:
        _require(inp.lint, ("summary", "findings"), "lint")
        s = inp.lint["summary"]
        detail = f"{s.get('error', 0)} error(s), {s.get('warning', 0)} warning(s)"
        if s.get("info"):
            detail += f", {s['info']} info"
        out.append(Check("lint", s.get("error", 0) == 0, detail))
    if inp.test is not None:
        _require(inp.test, ("passed", "failed"), "test")
        passed, failed = inp.test["passed"], inp.test["failed"]
        out.append(
            Check("policy tests", failed == 0 and passed > 0, f"{passed} passed, {failed} failed")
        )
    if inp.simulate is not None:
        _require(inp.simulate, ("requests", "gates", "cost"), "simulate")
        gates = inp.simulate["gates"]
        failed_gates = [g["gate"] for g in gates if not g["passed"]]
        detail = _simulate_detail(inp.simulate)
        if gates:
            detail += (
                f"; gates failed: {', '.join(failed_gates)}"
                if failed_gates
                else f"; {len(gates)} gate(s) passed"
            )
        out.append(Check("simulate", not failed_gates, detail))
    if inp.plan is not None:
        _require(inp.plan, ("summary", "gateway"), "plan")
        s = inp.plan["summary"]
        detail = f"{s['add']} to add, {s['change']} to change, {s['destroy']} to destroy"
        if s.get("skipped"):
            detail += f", {s['skipped']} skipped"
        out.append(Check("plan", True, f"{detail} on {inp.plan['gateway']}"))
    return out + inp.checks


def _simulate_detail(report: dict[str, Any]) -> str:
    from routectl.simulate.render import count_fmt, pct_signed, usd, usd_signed

    text = f"{count_fmt(report['requests'])} requests, cost {usd(report['cost']['total'])}"
    delta = report.get("delta")
    if delta:
        percent = delta["cost"]["percent"]
        text += f" ({usd_signed(delta['cost']['absolute'])}"
        text += f", {pct_signed(percent)})" if percent is not None else ")"
        shifted = report.get("shifted") or {}
        if shifted:
            text += f", {count_fmt(shifted['requests'])} changing model"
    return text


def _cut(rows: list[Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    return {"rows": rows[:ROWS_SHOWN], "more": max(0, len(rows) - ROWS_SHOWN)}


def _findings(lint: dict[str, Any] | None) -> dict[str, Any] | None:
    if not lint:
        return None
    order = {"error": 0, "warning": 1, "info": 2}
    rows = [
        {
            "severity": f["severity"],
            "location": f"{f['file']}:{f['line']}:{f['col']}",
            "code": f["code"],
            "message": f["message"],
            "hint": f.get("hint"),
        }
        for f in sorted(lint["findings"], key=lambda f: order.get(f["severity"], 3))
    ]
    return _cut(rows)


def _failed_tests(test: dict[str, Any] | None) -> dict[str, Any] | None:
    if not test:
        return None
    rows = [
        {"name": f"{c['test']}::{c['case']}", "location": c["location"], "failures": c["failures"]}
        for c in test.get("cases", [])
        if not c["passed"]
    ]
    return _cut(rows)


def _plan_markdown(doc: dict[str, Any]) -> str:
    from pydantic import ValidationError

    from routectl.reconcile.plan import PlanDoc
    from routectl.reconcile.render.markdown import plan_markdown

    try:
        plan = PlanDoc.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise InputError(
            f"not a plan document at {where}: {first['msg']}; "
            "write it with routectl plan --format json or --out"
        ) from None
    return plan_markdown(plan, max_rows=ROWS_SHOWN)


def build(inp: CommentInput, where: str = "") -> str:
    """The comment body, at most :data:`COMMENT_BUDGET` characters (the middle folded)."""
    from routectl import __version__

    all_checks = checks(inp)
    simulate_md = None
    if inp.simulate is not None:
        from routectl.simulate.render import to_markdown

        simulate_md = to_markdown(inp.simulate).rstrip("\n")
    body = render(
        "pr_comment.md.j2",
        marker=marker(inp.name),
        passed=all(c.passed for c in all_checks),
        title=inp.title,
        checks=all_checks,
        findings=_findings(inp.lint),
        failed_tests=_failed_tests(inp.test),
        plan=_plan_markdown(inp.plan) if inp.plan is not None else None,
        simulate=simulate_md,
        commit=inp.commit,
        updated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
    return fold_middle(body, COMMENT_BUDGET, where)


def passed(inp: CommentInput) -> bool:
    return all(c.passed for c in checks(inp))
