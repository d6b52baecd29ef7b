"""What a reader of a simulate report should know about the traffic itself.

Traffic without a classification routes fail-closed: as if every request carried
the strictest class, exactly as the gateway treats it. That is right, but it
surprises: recorded traces rarely have the column, and a whole replay can land on
the one model every class may use. The report says how many requests that is,
per file, and how to say what they are.
"""

from __future__ import annotations

from typing import Any

from routectl.simulate.sources import ALIASES, TrafficFile


def unclassified_files(files: list[TrafficFile]) -> list[TrafficFile]:
    """The files that give no classification: no column, no --set, no --map."""
    import duckdb

    from routectl.simulate.formats import open_source
    from routectl.simulate.sources import TrafficError

    out = []
    with duckdb.connect() as con:
        for index, file in enumerate(files):
            if "classification" in file.constants or "classification" in file.mapping:
                continue
            if file.location is not None:  # a glob or URI only the Spark engine reads
                continue
            try:
                columns = open_source(con, file, index).columns
            except TrafficError:
                columns = []
            names = {name.lower() for name in columns}
            if not names & set(ALIASES["classification"]):
                out.append(file)
    return out


def warnings(report: dict[str, Any], files: list[TrafficFile]) -> list[dict[str, Any]]:
    """Warnings for the report: ``{"code", "requests", "message", "fix"}``."""
    missing = {f.display for f in unclassified_files(files)}
    if not missing:
        return []
    count = sum(f["requests"] for f in report["traffic"]["files"] if f["path"] in missing)
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
