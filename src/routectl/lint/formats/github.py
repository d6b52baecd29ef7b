"""GitHub Actions workflow commands: one annotation per finding.

``::error file=F,line=L,col=C,title=CODE::message`` shows the finding on the
pull request's diff. Values are escaped as the runner expects: ``%``, CR and
LF everywhere, and ``:`` and ``,`` in properties too.
"""

from __future__ import annotations

from routectl.lint.findings import LintReport, Severity

COMMAND = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        loc = f.location
        message = f.message + (f"\nfix: {f.hint}" if f.hint else "")
        lines.append(
            f"::{COMMAND[f.severity]} file={_property(loc.file)},line={loc.line},"
            f"col={loc.col},title={_property(f.code)}::{_data(message)}"
        )
    return "\n".join(lines)
