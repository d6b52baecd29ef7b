"""Findings for scripts: one JSON object, stable keys."""

from __future__ import annotations

import json

from routectl.lint.findings import LintReport, Severity


def render(report: LintReport) -> str:
    payload = {
        "version": 1,
        "files": report.files,
        "documents": report.documents,
        "summary": {s.value: report.count(s) for s in Severity},
        "findings": [f.as_dict() for f in report.findings],
        "errors": report.usage_errors,
    }
    return json.dumps(payload, indent=2)
