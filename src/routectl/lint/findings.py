"""What lint reports: located findings with a stable code and a severity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from routectl.loader.yaml_source import Location


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2}


@dataclass(frozen=True)
class Related:
    """Another place that explains a finding, e.g. the first of two duplicates."""

    location: Location
    message: str


@dataclass(frozen=True)
class Problem:
    """What a rule's ``check()`` yields; the engine adds the code and severity."""

    location: Location
    message: str
    hint: str | None = None
    related: tuple[Related, ...] = ()


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    location: Location
    message: str
    hint: str | None = None
    related: tuple[Related, ...] = ()

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.code, self.message)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "message": self.message,
            "hint": self.hint,
            "related": [
                {
                    "file": r.location.file,
                    "line": r.location.line,
                    "col": r.location.col,
                    "message": r.message,
                }
                for r in self.related
            ],
        }


@dataclass
class LintReport:
    """The outcome of one lint run.

    ``usage_errors`` are problems with the invocation itself (a path that does
    not exist, no manifests at all): the CLI exits 2 on them, whatever the
    findings say.
    """

    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    usage_errors: list[str] = field(default_factory=list)
    documents: int = 0

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def fails(self, threshold: Severity) -> bool:
        return any(f.severity.at_least(threshold) for f in self.findings)

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def by_file(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.location.file, []).append(finding)
        return grouped


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: f.sort_key)
