"""Text and markdown reports of drift and of the reviewer's diff."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from routectl.reconcile.drift import Drift
from routectl.reconcile.plan import FieldChangeDoc
from routectl.reconcile.render import field_text, value_text
from routectl.reconcile.semantic import SemanticChange

DRIFT_VERB = {
    "changed": ("~", "changed"),
    "deleted": ("-", "deleted"),
    "added": ("+", "added"),
    "missing": ("+", "not on the gateway"),
    "taken": ("!", "taken over"),
}


def _drift_line(d: Drift) -> str:
    symbol, verb = DRIFT_VERB[d.kind]
    by = "outside routectl" if d.outside else "by an apply of other manifests"
    line = f"{symbol} {d.address} {verb}"
    if d.who:
        line += f" {by} by {d.who} at {d.when} (revision {d.revision})"
    if d.detail:
        line += f": {d.detail}"
    return line


def drift_markdown(drifts: list[Drift], revision: int, gateway: str) -> str:
    from routectl.report.markdown import render

    rows = [
        {
            "address": d.address,
            "verb": DRIFT_VERB[d.kind][1],
            "detail": d.detail,
            "who": d.who,
            "when": d.when,
            "revision": d.revision,
        }
        for d in drifts
    ]
    fields = [
        {
            "address": d.address,
            "path": f.path,
            "git": "(sensitive)" if f.sensitive else value_text(f.before),
            "live": "(sensitive)" if f.sensitive else value_text(f.after),
        }
        for d in drifts
        for f in d.fields
    ]
    outside = sum(d.outside for d in drifts)
    return render(
        "drift.md.j2",
        drifts=rows,
        fields=fields,
        gateway=gateway,
        revision=revision,
        outside=outside,
    ).rstrip("\n")


def semantic_markdown(changes: list[SemanticChange], base: str, head: str) -> str:
    from routectl.report.markdown import render

    counts = {s: sum(c.status == s for c in changes) for s in ("added", "removed", "changed")}
    rows = [{"status": c.status, "subject": c.subject, "lines": c.lines} for c in changes]
    return render("diff.md.j2", changes=rows, counts=counts, base=base, head=head).rstrip("\n")


def print_drift(
    drifts: list[Drift], revision: int, gateway: str, console: Console, markdown: bool
) -> None:
    if markdown:
        console.print(Text(drift_markdown(drifts, revision, gateway)))
        return
    if not drifts:
        console.print(
            Text(f"In sync: gateway {gateway} (revision {revision}) matches the manifests.")
        )
        return
    for d in drifts:
        console.print(Text(_drift_line(d)))
        for f in d.fields:
            doc = FieldChangeDoc(path=f.path, before=f.before, after=f.after, sensitive=f.sensitive)
            console.print(Text(f"    {field_text(doc)}  (git -> live)"))
    outside = sum(d.outside for d in drifts)
    console.print(
        Text(
            f"\nDrift: {len(drifts)} resource(s) differ from the manifests on gateway {gateway} "
            f"(revision {revision}); {outside} changed outside routectl. "
            "routectl apply restores the manifests' state."
        )
    )


def drift_doc(drifts: list[Drift], revision: int, gateway: str) -> dict[str, Any]:
    return {
        "gateway": gateway,
        "revision": revision,
        "drifted": bool(drifts),
        "resources": [
            {
                "address": d.address,
                "drift": d.kind,
                "outside_routectl": d.outside,
                "updated_by": d.who,
                "updated_at": d.when,
                "revision": d.revision,
                "detail": d.detail,
                "fields": [
                    {"path": f.path, "git": f.before, "live": f.after, "sensitive": f.sensitive}
                    for f in d.fields
                ],
            }
            for d in drifts
        ],
    }


def print_semantic(
    changes: list[SemanticChange], base: str, head: str, console: Console, markdown: bool
) -> None:
    if markdown:
        console.print(Text(semantic_markdown(changes, base, head)))
        return
    if not changes:
        console.print(Text("No differences in meaning between the two versions."))
        return
    symbol = {"added": "+", "removed": "-", "changed": "~"}
    for c in changes:
        for line in c.lines:
            console.print(Text(f"{symbol[c.status]} {c.subject}: {line}"))
    counts = {s: sum(c.status == s for c in changes) for s in ("added", "removed", "changed")}
    console.print(
        Text(
            f"\n{len(changes)} resource(s): {counts['added']} added, {counts['removed']} removed, "
            f"{counts['changed']} changed."
        )
    )
