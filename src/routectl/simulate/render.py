"""Print a report: ``json`` as is, ``text`` for a terminal, ``markdown`` for a PR comment.

Markdown must fit a GitHub comment (65,536 characters); we keep it under
:data:`MARKDOWN_LIMIT` by listing fewer rows of the long tables and summing the
rest into one line ("12 more models …"). The summary table is never cut.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MARKDOWN_LIMIT = 60_000
_ROW_LIMITS = (25, 10, 5, 2, 0)
TEXT_REASONS = 10  # unroutable reasons listed in the text report; the rest are summed
JSON_DIGITS = 10  # significant digits of a float in JSON: no 440.95000000000005


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(_finite(report), indent=2)


def _finite(value: Any) -> Any:
    """JSON-ready: no NaN/inf, whole floats as integers, no binary float noise."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.{JSON_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------- formatting


def count_fmt(value: float) -> str:
    """Requests as whole numbers: a weighted split's expected 8,377.6 shows as 8,378.

    The exact expected counts are in the JSON report (``fractional_counts`` says why).
    """
    return f"{round(value):,}"


def count_signed(value: float) -> str:
    return ("+" if round(value) > 0 else "") + count_fmt(value)


def usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:,.4f}"


def usd_signed(value: float) -> str:
    text = usd(abs(value))
    return ("+" if value > 0 else "-" if value < 0 else "") + text


def pct(value: float) -> str:
    return f"{value:.1f}%"


def pct_signed(value: float) -> str:
    return ("+" if value > 0 else "") + pct(value)


def pct_or_none(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else pct(value)


def share(value: float) -> str:
    return f"{100 * value:.1f}%"


def cell(text: str) -> str:
    return re.sub(r"[|\n]", " ", str(text))


def _cut(rows: list[dict[str, Any]], limit: int, keys: tuple[str, ...]) -> dict[str, Any]:
    shown, rest = rows[:limit], rows[limit:]
    tail = None
    if rest:
        tail = {"count": len(rest)}
        for key in keys:
            tail[key] = sum(r.get(key) or 0 for r in rest)
    return {"rows": shown, "rest": tail}


def scenario_text(report: dict[str, Any]) -> str:
    """What-ifs in one line ('' when there are none); rate limits only when they bit."""
    scenario = report["scenario"]
    parts = [f"outage {o}" for o in scenario["outages"]]
    parts += [f"price {m} {f}" for m, f in scenario["price_changes"].items()]
    if scenario["rate_limited_minutes"]:
        parts.append(f"rate limits bound in {scenario['rate_limited_minutes']} minute(s)")
    elif scenario["rate_limits"].startswith("not applied"):
        parts.append(f"rate limits {scenario['rate_limits']}")
    return "; ".join(parts)


def dynamic_lines(report: dict[str, Any]) -> list[str]:
    """Cascades against their last model, and predicted quality beside cost (head)."""
    lines = []
    cascades = report.get("cascade")
    if cascades:
        for route in cascades["routes"]:
            rates = ", ".join(
                f"{r['model']} {r['rate']:.0%} ({r['source']})" for r in route["rates"]
            )
            saving = route["saving_percent"]
            lines.append(
                f"cascade {route['route']}: {usd(route['cost'])} "
                f"({count_fmt(route['escalated_calls'])} escalated calls included) vs "
                f"{usd(route['last_model_cost'])} always on its last model"
                + (f": {saving:.1f}% saved" if saving is not None else "")
                + (
                    f"; predicted quality {route['quality']:.3f} vs "
                    f"{route['last_model_quality']:.3f}"
                    if route["quality"] is not None and route["last_model_quality"] is not None
                    else ""
                )
                + f"; escalation rates {rates}"
            )
    detection = report.get("detection")
    if detection:
        lines.append(
            f"semantic intent detection classified {count_fmt(detection['prompts'])} distinct "
            f"prompt(s) for {usd(detection['cost'])} (in the cost)"
        )
    quality = report.get("quality") or {}
    if quality.get("mean") is not None:
        delta = report.get("delta", {}).get("quality") or {}
        base = delta.get("base")
        versus = f" (base {base:.3f})" if base is not None else ""
        lines.append(
            f"predicted quality {quality['mean']:.3f}{versus} over "
            f"{count_fmt(quality['covered_requests'])} requests whose model has a score "
            f"for their intent"
        )
    return lines


# --------------------------------------------------------------------------- markdown


def to_markdown(report: dict[str, Any]) -> str:
    from importlib.resources import files

    import jinja2

    env = jinja2.Environment(autoescape=False, trim_blocks=False, keep_trailing_newline=True)
    env.filters.update(
        count_fmt=count_fmt,
        count_signed=count_signed,
        usd=usd,
        usd_signed=usd_signed,
        pct=pct,
        pct_signed=pct_signed,
        pct_or_none=pct_or_none,
        share=share,
        cell=cell,
    )
    source = files("routectl.simulate").joinpath("templates/report.md.j2").read_text("utf-8")
    template = env.from_string(source)
    deltas = {d["model"]: d["cost_delta"] for d in report.get("delta", {}).get("by_model", [])}
    moving = [e for e in report.get("shift", []) if e["from"] != e["to"]]
    staying = sum(e["requests"] for e in report.get("shift", []) if e["from"] == e["to"])
    text = ""
    for limit in _ROW_LIMITS:
        text = template.render(
            r=report,
            scenario=scenario_text(report),
            pie=_pie(report["by_model"], report["unroutable"]["count"], min(limit, 8)),
            bars=_bars(report, min(limit, 8)) if "base" in report else [],
            models=_cut(report["by_model"], limit, ("requests", "share", "cost")),
            deltas=deltas,
            shift=_cut(moving, limit, ("requests",)) if "base" in report else None,
            staying=staying,
            reasons=_cut(report["unroutable"]["reasons"], limit, ("requests",)),
            files=_cut(report["traffic"]["files"], limit, ("requests",)),
            experiments=_cut(report["experiments"], limit, ("requests",)),
            dynamic=dynamic_lines(report),
        )
        if len(text) <= MARKDOWN_LIMIT:
            break
    return text


def _label(text: str) -> str:
    return cell(text).replace('"', "'")[:40]


def _pie(models: list[dict[str, Any]], unroutable: float, limit: int) -> list[dict[str, Any]]:
    limit = max(limit, 1)
    slices = [{"label": _label(m["model"]), "value": m["requests"]} for m in models[:limit]]
    other = sum(m["requests"] for m in models[limit:])
    if other > 0:
        slices.append({"label": "other models", "value": other})
    if unroutable > 0:
        slices.append({"label": "unroutable", "value": unroutable})
    return slices


def _bars(report: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    entries = report["delta"]["by_model"][: max(limit, 1)]
    return [
        {"label": _label(e["model"]), "base": e["base_cost"], "head": e["head_cost"]}
        for e in entries
    ]


# --------------------------------------------------------------------------- text


def print_text(report: dict[str, Any], console: Any) -> None:
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if not console.is_terminal:
        # Logs and pipes have no width: print whole names rather than fold them at 80.
        console = Console(file=sys.stdout, width=160, highlight=False, soft_wrap=True)

    has_base = "base" in report
    console.print(
        f"[bold]{count_fmt(report['requests'])} requests[/] replayed "
        f"({report['traffic']['groups_planned']:,} distinct routing groups planned)"
    )
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning: {escape(warning['message'])}[/]")
        console.print(f"[dim]  fix: {escape(warning['fix'])}[/]")
    if report["traffic"]["skipped"]:
        console.print(f"[yellow]{report['traffic']['skipped']} bad line(s) skipped[/]")
        for error in report["traffic"]["errors"][:5]:
            console.print(f"  {error}", markup=False)
    summary = Table(show_edge=False, box=None)
    summary.add_column("")
    if has_base:
        summary.add_column("base", justify="right")
    summary.add_column("head", justify="right")
    if has_base:
        summary.add_column("change", justify="right")
        delta = report["delta"]
        percent = delta["cost"]["percent"]
        summary.add_row(
            "cost",
            usd(report["base"]["cost"]["total"]),
            usd(report["cost"]["total"]),
            usd_signed(delta["cost"]["absolute"])
            + (f" ({pct_signed(percent)})" if percent is not None else ""),
        )
        summary.add_row(
            "shadow cost",
            usd(report["base"]["cost"]["shadow"]),
            usd(report["cost"]["shadow"]),
            usd_signed(delta["shadow_cost"]["absolute"]),
        )
        summary.add_row(
            "unroutable",
            count_fmt(report["base"]["unroutable"]["count"]),
            count_fmt(report["unroutable"]["count"]),
            count_signed(delta["unroutable"]),
        )
        summary.add_row(
            "changing model",
            "",
            "",
            f"{count_fmt(report['shifted']['requests'])} ({pct(report['shifted']['percent'])})",
        )
    else:
        summary.add_row("cost", usd(report["cost"]["total"]))
        summary.add_row("shadow cost", usd(report["cost"]["shadow"]))
        summary.add_row("unroutable", count_fmt(report["unroutable"]["count"]))
    console.print(summary)
    scenario = scenario_text(report)
    if scenario:
        console.print(f"scenario: {escape(scenario)}")

    console.print(_models_table(report, escape) if has_base else _head_models_table(report))
    for key in ("intent", "route"):
        table = Table(title=f"by {key} (head)", title_justify="left")
        for name in (key, "requests", "share", "cost"):
            table.add_column(name, justify="left" if name == key else "right")
        for entry in report[f"by_{key}"]:
            table.add_row(
                entry["name"],
                count_fmt(entry["requests"]),
                share(entry["share"]),
                usd(entry["cost"]),
            )
        console.print(table)
    if has_base and report["shift"]:
        moving = [e for e in report["shift"] if e["from"] != e["to"]]
        staying = sum(e["requests"] for e in report["shift"] if e["from"] == e["to"])
        console.print(
            f"shift: {count_fmt(report['shifted']['requests'])} requests change model, "
            f"{count_fmt(staying)} keep theirs"
        )
        if moving:
            table = Table(
                title="shift (base → head): requests that change model", title_justify="left"
            )
            for name in ("from", "to", "requests"):
                table.add_column(name, justify="right" if name == "requests" else "left")
            for entry in moving:
                table.add_row(entry["from"], entry["to"], count_fmt(entry["requests"]))
            console.print(table)
    reasons = report["unroutable"]["reasons"]
    if reasons:
        table = Table(title="unroutable (head)", title_justify="left")
        table.add_column("kind")
        table.add_column("reason")
        table.add_column("requests", justify="right")
        for entry in reasons[:TEXT_REASONS]:
            table.add_row(entry["kind"], escape(entry["reason"]), count_fmt(entry["requests"]))
        rest = reasons[TEXT_REASONS:]
        if rest:
            table.add_row(
                "",
                f"… {len(rest):,} more reasons (--format json lists them all)",
                count_fmt(sum(e["requests"] for e in rest)),
            )
        console.print(table)
    if report.get("budgets", {}).get("consumers"):
        table = Table(title="budgets (head)", title_justify="left")
        for name in ("consumer", "budget", "threshold", "action", "crossed by", "at"):
            table.add_column(name)
        for consumer, entry in report["budgets"]["consumers"].items():
            for crossing in entry["crossings"]:
                table.add_row(
                    consumer,
                    crossing["budget"],
                    crossing["threshold"],
                    crossing["action"],
                    f"request {crossing['request']} ({crossing['request_id'] or 'no id'})",
                    crossing["ts"],
                )
            table.add_row(
                consumer,
                "",
                "",
                "",
                f"{entry['downgraded']} downgraded, {entry['blocked']} blocked, "
                f"{entry['rate_limited']} rate limited",
                usd(entry["cost"]),
            )
        console.print(table)
    if report["experiments"]:
        for entry in report["experiments"]:
            console.print(
                f"experiment {entry['experiment']}: arm {entry['arm']} "
                f"{count_fmt(entry['requests'])} requests"
            )
    for line in dynamic_lines(report):
        console.print(escape(line))
    if report["latency_ms"]["mean"] is not None:
        console.print(
            f"estimated mean latency {report['latency_ms']['mean']:.0f} ms "
            f"({count_fmt(report['latency_ms']['covered_requests'])} requests with a profile)"
        )
    for side, source in report["policy"].items():
        revision = f"@{source['revision'][:12]}" if source["revision"] else ""
        dirty = " (uncommitted changes)" if source["dirty"] else ""
        path = escape(source["path"])
        console.print(f"[dim]{side} prices: {path}{revision}{dirty}[/]", markup=True)
    for file in report["traffic"]["files"]:
        console.print(f"[dim]traffic {escape(file['path'])} sha256 {file['sha256']}[/]")
    for gate in report["gates"]:
        mark = "[green]PASS[/]" if gate["passed"] else "[red]FAIL[/]"
        if "limit_percent" in gate:
            detail = f"{pct_or_none(gate['value_percent'])} (limit {pct(gate['limit_percent'])})"
        else:
            detail = f"{count_fmt(gate['value'])} unroutable"
        console.print(f"{mark} {gate['gate']}: {detail}")


def _head_models_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    models = Table(title="by model (head)", title_justify="left")
    for name in (
        "model",
        "provider",
        "jurisdiction",
        "tier",
        "requests",
        "share",
        "cost",
        "latency",
    ):
        models.add_column(
            name, justify="right" if name in ("requests", "share", "cost", "latency") else "left"
        )
    for m in report["by_model"]:
        models.add_row(
            m["model"],
            m["provider"],
            m["jurisdiction"],
            m["tier"] or "",
            count_fmt(m["requests"]),
            share(m["share"]),
            usd(m["cost"]),
            f"{m['latency_ms']:.0f} ms" if m["latency_ms"] is not None else "",
        )
    return models


def _models_table(report: dict[str, Any], escape: Any) -> Any:
    """With a base: each model's requests and cost on both sides, and the change."""
    from rich.table import Table

    base = {m["model"]: m for m in report["base"]["by_model"]}
    head = {m["model"]: m for m in report["by_model"]}
    names = [m["model"] for m in report["by_model"]] + [n for n in base if n not in head]
    table = Table(title="by model (base → head)", title_justify="left")
    for name in ("model", "provider", "jurisdiction", "requests base", "head", "Δ",
                 "cost base", "head", "Δ"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("model", "provider", "jurisdiction")
                         else "right")  # fmt: skip
    for name in names:
        b, h = base.get(name), head.get(name)
        info = h or b
        b_n, h_n = (b or {}).get("requests", 0.0), (h or {}).get("requests", 0.0)
        b_c, h_c = (b or {}).get("cost", 0.0), (h or {}).get("cost", 0.0)
        table.add_row(
            escape(name),
            info["provider"],
            info["jurisdiction"],
            count_fmt(b_n),
            count_fmt(h_n),
            count_signed(h_n - b_n),
            usd(b_c),
            usd(h_c),
            usd_signed(h_c - b_c),
        )
    return table
