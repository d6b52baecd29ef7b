"""What a reader of a simulate report should know about the traffic itself.

Traffic without a classification routes fail-closed: as if every request carried
the strictest class, exactly as the gateway treats it. That is right, but it
surprises: recorded traces rarely have the column, and a whole replay can land on
the one model every class may use. The report says how many requests that is,
per file, and how to say what they are.
"""

from __future__ import annotations

from typing import Any

from routectl.simulate.scan import FileStats


def warnings(report: dict[str, Any], files: list[FileStats]) -> list[dict[str, Any]]:
    """Warnings for the report: ``{"code", "requests", "message", "fix"}``.

    ``files``: what the scan found in each file (a column, a --map or a --set)."""
    count = sum(f.requests for f in files if "classification" not in f.features)
    if not count:
        return []
    total = report["requests"]
    share = f"{100 * count / total:.0f}%" if total else "all"
    return [
        {
            "code": "unclassified-traffic",
            "requests": count,
            "message": (
                f"{count:,} of {total:,} requests ({share}) carry no classification, so they "
                "routed fail-closed: only where every classification may go, as the gateway "
                "would route them"
            ),
            "fix": (
                "say what the traffic is: --set classification=NAME for all of it, "
                "--map classification=COLUMN, or set: {classification: NAME} per file in a "
                "traffic spec"
            ),
        }
    ]
