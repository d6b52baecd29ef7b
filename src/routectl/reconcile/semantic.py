"""The reviewer's diff: what a change to the manifests means, without any gateway.

Not "field X changed" but "route default: weight gpt-4o 95% -> 90%", "model
x: input price $2.50 -> $3.00 (+20%)", "provider p: jurisdiction TR -> US".
Each kind has a describer for the fields reviewers care about; every other
changed field is still listed, generically, so nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from routectl.core.state import Resource
from routectl.core.strategies import STRATEGIES, shares
from routectl.reconcile.diff import field_changes, secret_paths_of
from routectl.reconcile.normalize import comparable
from routectl.reconcile.render import SENSITIVE_CHANGED, value_text


@dataclass(frozen=True)
class SemanticChange:
    kind: str
    name: str
    status: Literal["added", "removed", "changed"]
    lines: tuple[str, ...]

    @property
    def subject(self) -> str:
        return f"{self.kind.lower()} {self.name}"


Spec = Mapping[str, Any]
Describer = Callable[[Spec, Spec], tuple[list[str], set[str]]]  # lines, spec keys covered


def semantic_diff(
    base: Mapping[str, Resource], head: Mapping[str, Resource]
) -> list[SemanticChange]:
    out: list[SemanticChange] = []
    for addr in sorted(set(base) | set(head)):
        old, new = base.get(addr), head.get(addr)
        if old is None and new is not None:
            out.append(SemanticChange(new.kind, new.name, "added", (_summary(new),)))
        elif new is None and old is not None:
            out.append(SemanticChange(old.kind, old.name, "removed", (_summary(old),)))
        elif old is not None and new is not None and comparable(old) != comparable(new):
            out.append(SemanticChange(new.kind, new.name, "changed", tuple(_changed(old, new))))
    return out


def _changed(old: Resource, new: Resource) -> list[str]:
    describer = DESCRIBERS.get(new.kind)
    lines, covered = describer(old.spec, new.spec) if describer else ([], set())
    sensitive = secret_paths_of(old) | secret_paths_of(new)
    fields, _ = field_changes(comparable(old), comparable(new), sensitive)
    for f in fields:
        parts = f.path.split(".")
        if parts[0] == "spec" and len(parts) > 1 and parts[1].split("[")[0] in covered:
            continue
        if f.sensitive:
            lines.append(f"{f.path.removeprefix('spec.')}: secret reference changed")
        else:
            lines.append(
                f"{f.path.removeprefix('spec.')}: {value_text(f.before)} -> {value_text(f.after)}"
            )
    return lines or [SENSITIVE_CHANGED]


# ----------------------------------------------------------------------------- helpers


def _money(value: float | None) -> str:
    return "none" if value is None else f"${value:,.2f}"


def _pct_change(old: float | None, new: float | None) -> str:
    if not old or new is None:
        return ""
    delta = (new - old) / old * 100
    return f" ({delta:+.0f}%)"


def _set_delta(label: str, old: list[Any], new: list[Any]) -> list[str]:
    added = [str(x) for x in new if x not in old]
    removed = [str(x) for x in old if x not in new]
    lines = []
    if added:
        lines.append(f"{label} added: {', '.join(added)}")
    if removed:
        lines.append(f"{label} removed: {', '.join(removed)}")
    return lines


def _scalar(label: str, old: Any, new: Any, fmt: Callable[[Any], str] = str) -> list[str]:
    return [] if old == new else [f"{label} {fmt(old)} -> {fmt(new)}"]


def _chain(names: list[str]) -> str:
    # A list, not "a → b": in a diff the only arrow is the change (before -> after).
    return f"[{', '.join(names)}]" if names else "(none)"


def _target_key(target: Spec) -> str:
    return str(target.get("model") or f"tier {target.get('tier')}")


def _shares(spec: Spec) -> dict[str, float]:
    """Each target's share of traffic under a weighted strategy, in percent (the core's
    rule: a target without a weight gets none)."""
    targets = spec.get("targets") or []
    fractions = shares([t.get("weight") for t in targets])
    out: dict[str, float] = {}
    for target, fraction in zip(targets, fractions, strict=True):
        key = _target_key(target)
        out[key] = out.get(key, 0.0) + 100.0 * fraction
    return out


def _splits(spec: Spec) -> bool:
    strategy = STRATEGIES.get(str(spec.get("strategy")))
    return strategy is not None and strategy.weights


def _pct(value: float | None) -> str:
    return "0%" if value is None else f"{value:.4g}%"


# ----------------------------------------------------------------------------- describers


def _route(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    lines = _scalar("strategy", old.get("strategy"), new.get("strategy"))
    lines += _scalar("order", old.get("order"), new.get("order"))
    if _splits(new) or _splits(old):
        before, after = _shares(old), _shares(new)
        for key in list(after) + [k for k in before if k not in after]:
            if key not in before:
                lines.append(f"target {key} added ({_pct(after[key])})")
            elif key not in after:
                lines.append(f"target {key} removed (was {_pct(before[key])})")
            elif abs(before[key] - after[key]) > 1e-9:
                lines.append(f"weight {key} {_pct(before[key])} -> {_pct(after[key])}")
    else:
        old_t = [_target_key(t) for t in old.get("targets") or []]
        new_t = [_target_key(t) for t in new.get("targets") or []]
        lines += _scalar("targets", old_t, new_t, _chain)
    old_fb, new_fb = old.get("fallback") or {}, new.get("fallback") or {}
    lines += _scalar("fallback chain", old_fb.get("chain") or [], new_fb.get("chain") or [], _chain)
    lines += _set_delta(
        "fallback trigger", old_fb.get("triggers") or [], new_fb.get("triggers") or []
    )
    old_m, new_m = old.get("match") or {}, new.get("match") or {}
    for key in sorted(set(old_m) | set(new_m)):
        if isinstance(new_m.get(key, []), list):
            lines += _set_delta(f"match {key}", old_m.get(key) or [], new_m.get(key) or [])
        else:
            lines += _scalar(f"match {key}", old_m.get(key), new_m.get(key), value_text)
    old_s = {s["model"]: s["percent"] for s in old.get("shadows") or []}
    new_s = {s["model"]: s["percent"] for s in new.get("shadows") or []}
    for model in sorted(set(old_s) | set(new_s)):
        lines += _scalar(f"shadow {model}", old_s.get(model), new_s.get(model), _pct)
    old_c, new_c = old.get("constraints") or {}, new.get("constraints") or {}
    lines += _scalar(
        "max cost per request",
        old_c.get("maxCostPerRequest"),
        new_c.get("maxCostPerRequest"),
        _money,
    )
    return lines, {"strategy", "order", "targets", "fallback", "match", "shadows"}


def _model(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    lines: list[str] = []
    old_p, new_p = old.get("pricing") or {}, new.get("pricing") or {}
    for key, label in (("input", "input"), ("output", "output"), ("cachedInput", "cached input")):
        a, b = old_p.get(key), new_p.get(key)
        if a != b:
            lines.append(f"{label} price {_money(a)} -> {_money(b)}{_pct_change(a, b)}")
    lines += _scalar("provider", old.get("provider"), new.get("provider"))
    lines += _scalar("tier", old.get("tier"), new.get("tier"))
    lines += _scalar("upstream model", old.get("upstreamModel"), new.get("upstreamModel"))
    lines += _scalar("open weight", old.get("openWeight"), new.get("openWeight"))
    lines += _scalar("context window", old.get("contextWindow"), new.get("contextWindow"), _tokens)
    lines += _set_delta("capability", old.get("capabilities") or [], new.get("capabilities") or [])
    lines += _set_delta("language", old.get("languages") or [], new.get("languages") or [])
    lines += _set_delta(
        "certification", old.get("certifications") or [], new.get("certifications") or []
    )
    covered = {"provider", "tier", "upstreamModel", "openWeight", "contextWindow"}
    covered |= {"capabilities", "languages", "certifications"}
    if {k: v for k, v in old_p.items() if k != "source"} != {
        k: v for k, v in new_p.items() if k != "source"
    }:
        covered.add("pricing")
    return lines, covered


def _tokens(value: Any) -> str:
    return "none" if value is None else f"{value:,} tokens"


def _provider(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    lines = _scalar("jurisdiction", old.get("jurisdiction"), new.get("jurisdiction"))
    lines += _scalar("hosting", old.get("hosting"), new.get("hosting"))
    lines += _scalar("base URL", old.get("baseUrl"), new.get("baseUrl"))
    lines += _scalar("type", old.get("type"), new.get("type"))
    lines += _set_delta(
        "certification", old.get("certifications") or [], new.get("certifications") or []
    )
    return lines, {"jurisdiction", "hosting", "baseUrl", "type", "certifications"}


def _classification(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    a, b = old.get("allow") or {}, new.get("allow") or {}
    lines: list[str] = []
    for key, label in (
        ("jurisdictions", "allowed jurisdiction"),
        ("hosting", "allowed hosting"),
        ("certifications", "required certification"),
    ):
        before, after = a.get(key) or [], b.get(key) or []
        if before and not after:
            lines.append(f"{label}s: {', '.join(before)} -> any (restriction lifted)")
        elif after and not before:
            lines.append(f"{label}s: any -> {', '.join(after)}")
        else:
            lines += _set_delta(label, before, after)
    lines += _scalar("open weight only", a.get("openWeightOnly"), b.get("openWeightOnly"))
    return lines, {"allow"}


def _experiment(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    lines = _scalar("candidate", old.get("candidate"), new.get("candidate"))
    lines += _scalar("route", old.get("route"), new.get("route"))
    lines += _scalar("split", old.get("percent"), new.get("percent"), _pct)
    lines += _scalar("mode", old.get("mode"), new.get("mode"))
    lines += _scalar(
        "enabled", old.get("enabled"), new.get("enabled"), lambda v: "yes" if v else "no"
    )
    return lines, {"candidate", "route", "percent", "mode", "enabled"}


def _consumer(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    a, b = old.get("allow") or {}, new.get("allow") or {}
    lines = _set_delta("allowed intent", a.get("intents") or [], b.get("intents") or [])
    lines += _set_delta(
        "allowed classification", a.get("classifications") or [], b.get("classifications") or []
    )
    lines += _budget(old.get("budget"), new.get("budget"))
    lines += _scalar("team", old.get("team"), new.get("team"))
    lines += _scalar("rate limits", _limits(old.get("rateLimits")), _limits(new.get("rateLimits")))
    return lines, {"allow", "budget", "team", "rateLimits"}


def _team(old: Spec, new: Spec) -> tuple[list[str], set[str]]:
    return _budget(old.get("budget"), new.get("budget")), {"budget"}


def _limits(limits: Any) -> str:
    limits = limits or {}
    parts = [f"{limits[k]} {k}" for k in ("rpm", "tpm") if limits.get(k)]
    return ", ".join(parts) or "none"


def _budget_terms(budget: Any) -> tuple[float | None, str, str]:
    """(amount, period text, thresholds text) of a stored budget."""
    if not budget:
        return None, "", ""
    amount = (
        budget.get("amountUsd")
        if budget.get("amountUsd") is not None
        else (budget.get("monthlyUsd"))
    )
    period = budget.get("period") or "monthly"
    if budget.get("rolling"):
        period = f"rolling {period}"
    else:
        period = f"{period} ({budget.get('timeZone') or 'UTC'})"
    steps = []
    for t in budget.get("thresholds") or []:
        target = (
            t.get("tier")
            and f" to tier {t['tier']}"
            or t.get("route")
            and (f" to route {t['route']}")
            or ""
        )
        steps.append(f"{t.get('at'):g}% {t.get('action')}{target}")
    return amount, period, ", ".join(steps) or "block at 100%"


def _budget(old: Any, new: Any) -> list[str]:
    (a_amount, a_period, a_steps), (b_amount, b_period, b_steps) = (
        _budget_terms(old),
        _budget_terms(new),
    )
    lines = []
    if a_amount != b_amount:
        lines.append(
            f"budget {_money(a_amount)} -> {_money(b_amount)}{_pct_change(a_amount, b_amount)}"
        )
    if old and new:
        lines += _scalar("budget period", a_period, b_period)
        lines += _scalar("budget thresholds", a_steps, b_steps)
    elif new and not old:
        lines.append(f"budget per {b_period}: {b_steps}")
    return lines


DESCRIBERS: dict[str, Describer] = {
    "Route": _route,
    "Model": _model,
    "Provider": _provider,
    "Classification": _classification,
    "Experiment": _experiment,
    "Consumer": _consumer,
    "Team": _team,
}


def _summary(resource: Resource) -> str:
    s = resource.spec
    if resource.kind == "Model":
        p = s.get("pricing") or {}
        return (
            f"provider {s.get('provider')}, tier {s.get('tier') or '-'}, "
            f"{_money(p.get('input'))} in / {_money(p.get('output'))} out per 1M tokens"
        )
    if resource.kind == "Provider":
        return f"{s.get('jurisdiction')}, {s.get('hosting')}, {s.get('baseUrl')}"
    if resource.kind == "Route":
        targets = ", ".join(f"{k} {_pct(v)}" if _splits(s) else k for k, v in _shares(s).items())
        chain = _chain((s.get("fallback") or {}).get("chain") or [])
        return f"{s.get('strategy')} over {targets}; fallback {chain}"
    if resource.kind == "Experiment":
        share = _pct(s.get("percent"))
        return f"{share} of route {s.get('route')} to {s.get('candidate')} ({s.get('mode')})"
    if resource.kind == "Classification":
        allow = s.get("allow") or {}
        where = ", ".join(allow.get("jurisdictions") or []) or "any jurisdiction"
        hosting = ", ".join(allow.get("hosting") or []) or "any hosting"
        return f"may go to {where}, {hosting}"
    if resource.kind == "Consumer":
        intents = ", ".join((s.get("allow") or {}).get("intents") or []) or "any intent"
        return f"team {s.get('team') or '-'}, {intents}"
    if resource.kind == "Tier":
        return f"rank {s.get('rank')}"
    if resource.kind == "Intent":
        return str(s.get("description") or f"requires {', '.join(s.get('requires') or []) or '-'}")
    return resource.kind.lower()
