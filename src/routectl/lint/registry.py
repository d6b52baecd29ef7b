"""Find the rules: one module per rule in :mod:`routectl.lint.rules`.

A rule module's docstring is its documentation, and its first line is its
identity: ``CODE name (severity): summary``. The rest is shown by
``routectl rules CODE``; its ``Passing:`` and ``Failing:`` YAML blocks are run
by the test suite, so the documentation cannot drift from what the rule does.
A module may define ``Options`` (a pydantic model of the rule's settings in
``.routectl.yaml``) and ``check(ctx, options)`` yielding problems. Modules
without ``check`` document codes that the loader emits (``RC...``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from routectl.lint import rules as rules_package
from routectl.lint.findings import Problem, Severity

HEADER = re.compile(
    r"^(?P<code>R[CT]\d{3}) (?P<name>[a-z0-9-]+) \((?P<severity>\w+)\): (?P<summary>.+)$"
)
EXAMPLE = re.compile(r"^(?P<label>Passing|Failing):\s*\n\s*```yaml\n(?P<body>.*?)```", re.S | re.M)
# Rule documentation ships with routectl (`routectl rules CODE`) and in the repository
# (docs/rules.md, generated from these docstrings); there is no documentation site.
DOCS_PAGE = "docs/rules.md"

Check = Callable[[Any, Any], Iterator[Problem]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    description: str  # the docstring after its first line (Markdown)
    check: Check | None  # None: the loader reports this code
    options: type[BaseModel] | None
    module: str
    # The rule concludes from what is absent (no model serves X, nothing uses Y): it does
    # not run while some document failed to load, which may hold what looks missing.
    whole_policy: bool = False

    @property
    def help_command(self) -> str:
        return f"routectl rules {self.code}"

    @property
    def help_page(self) -> str:
        """Where the rule is documented in the repository (a relative link)."""
        return f"{DOCS_PAGE}#{self.code.lower()}-{self.name}"

    @property
    def from_loader(self) -> bool:
        return self.check is None

    def examples(self, label: str) -> list[str]:
        """The YAML blocks under ``Passing:`` or ``Failing:`` in the documentation."""
        return [m["body"] for m in EXAMPLE.finditer(self.description) if m["label"] == label]


def rule_from_module(module: ModuleType) -> Rule:
    doc = (module.__doc__ or "").strip()
    first, _, rest = doc.partition("\n")
    header = HEADER.match(first)
    if header is None:
        raise ValueError(f"{module.__name__}: docstring must start with 'CODE name (severity): …'")
    return Rule(
        code=header["code"],
        name=header["name"],
        severity=Severity(header["severity"]),
        summary=header["summary"],
        description=rest.strip(),
        check=getattr(module, "check", None),
        options=getattr(module, "Options", None),
        module=module.__name__,
        whole_policy=bool(getattr(module, "WHOLE_POLICY", False)),
    )


@cache
def all_rules() -> dict[str, Rule]:
    """Every rule by code, in code order."""
    found: list[Rule] = []
    for info in pkgutil.iter_modules(rules_package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{rules_package.__name__}.{info.name}")
        found.append(rule_from_module(module))
    found.sort(key=lambda r: r.code)
    codes = [r.code for r in found]
    if len(codes) != len(set(codes)):
        raise ValueError(f"two rule modules claim one code: {codes}")
    return {rule.code: rule for rule in found}


def find_rule(code_or_name: str) -> Rule | None:
    rules = all_rules()
    wanted = code_or_name.strip()
    if wanted.upper() in rules:
        return rules[wanted.upper()]
    return next((r for r in rules.values() if r.name == wanted.lower()), None)


def rules_markdown() -> str:
    """docs/rules.md: every rule's documentation, as ``routectl rules CODE`` shows it."""
    lines = [
        "# Lint rules",
        "",
        "Generated from the rules' docstrings (`routectl rules --format markdown > "
        "docs/rules.md`); `routectl rules CODE` shows the same text.",
        "",
        "| code | name | severity | checks |",
        "| --- | --- | --- | --- |",
    ]
    rules = list(all_rules().values())
    for r in rules:
        anchor = r.help_page.partition("#")[2]
        lines.append(f"| [{r.code}](#{anchor}) | {r.name} | {r.severity.value} | {r.summary} |")
    for r in rules:
        lines += ["", f"## {r.code} {r.name}", "", f"*{r.severity.value}*: {r.summary}", ""]
        lines.append(r.description)
    return "\n".join(lines) + "\n"
