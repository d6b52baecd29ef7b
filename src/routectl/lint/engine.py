"""Run the rules: load, turn load errors into findings, check, configure, suppress."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from routectl.lint.config import LintConfig
from routectl.lint.context import LintContext, broken_documents
from routectl.lint.findings import Finding, LintReport, Severity, sorted_findings
from routectl.lint.registry import Rule, all_rules
from routectl.loader.yaml_source import LoadError, LoadResult, SourceDocument, load_paths

SECRET_RULE = "RT010"
# Schema errors on these fields mean a secret value was written where a reference belongs.
_SECRET_FIELD = re.compile(r"^spec\.(credentials\.apiKey|credentials\.headers\.[^:]+|apiKey): ")
# yamllint-style suppression on the finding's line or the line above it.
_SUPPRESS = re.compile(r"#\s*routectl-lint:\s*disable=([A-Z0-9, ]+)")


def lint_paths(
    paths: Sequence[str | os.PathLike[str]], config: LintConfig | None = None
) -> LintReport:
    """Lint each directory in ``paths`` as a policy of its own, and the files together.

    ``routectl lint examples/policies/*`` lints every example on its own
    (their names may overlap); ``routectl lint a.yaml b.yaml`` lints one
    policy split over two files.
    """
    directories = [p for p in paths if Path(p).is_dir()]
    files = [p for p in paths if not Path(p).is_dir()]
    groups = [[d] for d in directories] + ([files] if files else [])
    reports = [lint_loaded(load_paths(group), config) for group in groups]
    return _merged(reports) if len(reports) != 1 else reports[0]


def _merged(reports: list[LintReport]) -> LintReport:
    merged = LintReport()
    for report in reports:
        merged.files.extend(report.files)
        merged.usage_errors.extend(report.usage_errors)
        merged.documents += report.documents
        merged.findings.extend(report.findings)
    merged.findings = sorted_findings(merged.findings)
    return merged


def lint_loaded(result: LoadResult, config: LintConfig | None = None) -> LintReport:
    config = config or LintConfig()
    report = LintReport(files=list(result.files), documents=len(result.documents))
    load_errors = []
    for error in result.errors:
        if error.code == "RC001":  # a path that is not there: the invocation is wrong
            report.usage_errors.append(f"{error.location.file}: {error.message}")
        else:
            load_errors.append(error)
    if not result.documents and not load_errors and not report.usage_errors:
        report.usage_errors.append(
            "no manifests found (expected *.yaml or *.yml documents with "
            "apiVersion: routectl.dev/v1)"
        )
    rules = all_rules()
    findings = [_from_load_error(e, rules, config) for e in load_errors]
    unvalidated = list(result.unvalidated)
    broken = broken_documents(r for _, r in unvalidated) | result.unparsed
    ctx = LintContext(result.documents, broken, unvalidated)
    for rule in rules.values():
        if rule.from_loader or rule.code in config.disabled:
            continue
        if rule.whole_policy and (broken or load_errors):
            continue  # what is missing may be in a document that did not load
        findings.extend(_run(rule, ctx, config, report))
    lines: dict[str, tuple[str, ...]] = {}
    report.findings = sorted_findings(
        f for f in _deduplicated(findings, len(load_errors)) if not _suppressed(f, lines)
    )
    return report


def _deduplicated(findings: list[Finding], from_loader: int) -> list[Finding]:
    """Drop repeats; a secret the schema refused is not reported again by RT010's scan."""
    refused = {f.location for f in findings[:from_loader] if f.code == SECRET_RULE}
    seen: set[tuple[str, object, str]] = set()
    out = []
    for index, finding in enumerate(findings):
        key = (finding.code, finding.location, finding.message)
        if key in seen:
            continue
        if index >= from_loader and finding.code == SECRET_RULE and finding.location in refused:
            continue
        seen.add(key)
        out.append(finding)
    return out


def lint_documents(
    documents: Iterable[SourceDocument], config: LintConfig | None = None
) -> LintReport:
    """Lint documents that are already loaded (e.g. read from a git revision)."""
    return lint_loaded(LoadResult(documents=list(documents)), config)


def _run(rule: Rule, ctx: LintContext, config: LintConfig, report: LintReport) -> list[Finding]:
    assert rule.check is not None
    severity = config.severity_of(rule)
    try:
        return [
            Finding(rule.code, severity, p.location, p.message, p.hint, p.related)
            for p in rule.check(ctx, config.options_of(rule))
        ]
    except Exception as exc:  # a bug in a rule must not hide the other findings
        report.usage_errors.append(f"internal error in rule {rule.code}: {exc!r}")
        return []


def _from_load_error(error: LoadError, rules: dict[str, Rule], config: LintConfig) -> Finding:
    code = error.code
    message = error.message
    if code == "RC007" and _SECRET_FIELD.match(message) and SECRET_RULE not in config.disabled:
        code = SECRET_RULE
        field = message.split(":", 1)[0]
        message = f"{field}: inline secret value; only env:NAME or file:PATH references are allowed"
    rule = rules.get(code)
    severity = config.severity_of(rule) if rule else Severity.error
    return Finding(code, severity, error.location, message, error.hint)


def _read_lines(file: str) -> tuple[str, ...]:
    try:
        return tuple(Path(file).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _suppressed(finding: Finding, cache: dict[str, tuple[str, ...]]) -> bool:
    """``# routectl-lint: disable=CODE`` at the end of the line, or alone on the line above."""
    file = finding.location.file
    if file not in cache:
        cache[file] = _read_lines(file)
    lines = cache[file]
    line = finding.location.line
    candidates = [lines[line - 1]] if 1 <= line <= len(lines) else []
    if 2 <= line <= len(lines) + 1 and lines[line - 2].lstrip().startswith("#"):
        candidates.append(lines[line - 2])
    for text in candidates:
        match = _SUPPRESS.search(text)
        if match and finding.code in {c.strip() for c in match[1].split(",")}:
            return True
    return False
