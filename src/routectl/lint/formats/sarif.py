"""SARIF 2.1.0, the format of code-scanning services (GitHub, Azure DevOps, …).

Every rule is described in ``tool.driver.rules`` (short and full
description, help text and URI, default level), whether or not it fired, so
a viewer can explain any result. File locations are relative to the current
directory under ``%SRCROOT%`` when possible, which is what code scanning
expects; files elsewhere get an absolute ``file://`` URI.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import quote

from routectl.lint.config import LintConfig
from routectl.lint.findings import LintReport, Severity
from routectl.lint.registry import all_rules
from routectl.loader.yaml_source import Location

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def _version() -> str:
    try:
        return version("routectl")
    except PackageNotFoundError:
        return "0+unknown"


def _artifact(file: str) -> dict[str, str]:
    path = Path(file).resolve()
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return {"uri": path.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}


def _physical(location: Location) -> dict[str, object]:
    return {
        "artifactLocation": _artifact(location.file),
        "region": {"startLine": location.line, "startColumn": location.col},
    }


def render(report: LintReport, config: LintConfig | None = None) -> str:
    config = config or LintConfig()
    rules = list(all_rules().values())
    index = {rule.code: i for i, rule in enumerate(rules)}
    descriptors = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.description.split("\n\n")[0].replace("\n", " ")},
            "help": {"text": rule.description, "markdown": rule.description},
            "defaultConfiguration": {
                "level": LEVEL[config.severity_of(rule)],
                "enabled": rule.code not in config.disabled,
            },
        }
        for rule in rules
    ]
    results = []
    for f in report.findings:
        result: dict[str, object] = {
            "ruleId": f.code,
            "level": LEVEL[f.severity],
            "message": {"text": f.message + (f" (fix: {f.hint})" if f.hint else "")},
            "locations": [{"physicalLocation": _physical(f.location)}],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.related:
            result["relatedLocations"] = [
                {"id": i, "physicalLocation": _physical(r.location), "message": {"text": r.message}}
                for i, r in enumerate(f.related)
            ]
        results.append(result)
    run = {
        "tool": {
            "driver": {
                "name": "routectl",
                "version": _version(),
                "informationUri": "https://routectl.dev/docs/rules",
                "rules": descriptors,
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)
