"""The markdown rendering of a plan, for a pull-request comment."""

from __future__ import annotations

from routectl.reconcile.apply import summary_line
from routectl.reconcile.plan import PlanDoc
from routectl.reconcile.render import field_text

ICON = {"create": "➕ create", "update": "✏️ update", "delete": "🗑️ delete"}


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def plan_markdown(plan: PlanDoc) -> str:
    source = plan.source.path + (f"@{plan.source.revision[:12]}" if plan.source.revision else "")
    lines = [
        f"### routectl plan: `{source}` → `{plan.gateway}` (revision {plan.base_revision})",
        "",
    ]
    if not plan.has_changes:
        lines.append("**No changes.** The gateway matches the manifests.")
    else:
        lines += [
            f"**{summary_line(plan)}**",
            "",
            "| action | resource | changes |",
            "|---|---|---|",
        ]
        for change in plan.resource_changes:
            fields = "<br>".join(f"`{cell(field_text(f))}`" for f in change.changed_fields)
            if change.action == "update" and change.unchanged_fields:
                fields += f"<br>_{change.unchanged_fields} unchanged fields hidden_"
            lines.append(f"| {ICON[change.action]} | `{change.address}` | {fields} |")
    if plan.skipped:
        lines += ["", f"<details><summary>Skipped ({len(plan.skipped)})</summary>", ""]
        lines += [f"- `{s.address}` ({s.action}): {cell(s.reason)}" for s in plan.skipped]
        lines += ["", "</details>"]
    lines += ["", f"<sub>owner `{plan.owner}` · plan `{plan.plan_hash[:19]}`</sub>"]
    return "\n".join(lines)
