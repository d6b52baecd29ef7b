"""``routectl lint``: schema and semantic checks of a routing policy, yamllint-style.

Public API (used by the CLI and by ``benchmarks/``)::

    from routectl.lint import lint_paths, load_config, LintConfig, Severity

    report = lint_paths(["examples/policies/paris-insurer"])   # -> LintReport
    report = lint_paths(paths, load_config(Path(".routectl.yaml")))
    for finding in report.findings:          # sorted by file, line, column
        print(finding.location, finding.code, finding.severity, finding.message)
    report.fails(Severity.error)             # what the CLI's exit 1 means
    report.usage_errors                      # non-empty: the CLI exits 2

- ``lint_paths(paths, config=None) -> LintReport``: load files/directories and lint.
- ``lint_loaded(load_result, config=None)``: lint a :class:`LoadResult` already read
  (e.g. from a git revision); lets a benchmark time loading and rules apart.
- ``all_rules()``: every rule by code; each rule's documentation is its module's
  docstring (``routectl rules CODE``).

Every finding has a stable code: ``RC…`` for load errors (YAML, schema) and
``RT…`` for semantic rules, one module per rule in :mod:`routectl.lint.rules`.
A finding is silenced in place with ``# routectl-lint: disable=RT014`` at the
end of its line or alone on the line above it; project-wide severities and
disabled rules live in ``.routectl.yaml`` (see :mod:`routectl.lint.config`).
"""

from routectl.lint.config import ConfigError, LintConfig, find_config, load_config
from routectl.lint.engine import lint_documents, lint_loaded, lint_paths
from routectl.lint.findings import Finding, LintReport, Severity
from routectl.lint.registry import Rule, all_rules, find_rule

__all__ = [
    "ConfigError",
    "Finding",
    "LintConfig",
    "LintReport",
    "Rule",
    "Severity",
    "all_rules",
    "find_config",
    "find_rule",
    "lint_documents",
    "lint_loaded",
    "lint_paths",
    "load_config",
]
