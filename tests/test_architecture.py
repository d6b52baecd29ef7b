"""The core is pure, and the meaning of a policy is declared in it once.

- The core imports the standard library, pydantic and itself, nothing else.
  CLI, loader, store, gateway, simulate and reconcile are edges around it; if
  the core imported one, the evaluator the gateway runs could not be the one
  that lint, test and simulate run offline.
- No strategy or filter is recognised by its name outside the core's
  registries (``core/strategies.py``, ``core/filters.py``): code that needs to
  know what a strategy or filter does reads its declaration (``draws``,
  ``weights``, ``rank``, ``forbids``, ``bound`` …). A comparison like
  ``route.strategy == "weighted"`` is a second copy of a rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from routectl.core.filters import FILTERS
from routectl.core.strategies import STRATEGIES

SRC = Path(__file__).resolve().parent.parent / "src" / "routectl"
CORE = SRC / "core"
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}
REGISTRIES = {CORE / "strategies.py", CORE / "filters.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_edge():
    offending = []
    for path in sorted(CORE.glob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith("routectl.core") or name == "routectl.core":
                continue
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top in ALLOWED_THIRD_PARTY:
                continue
            offending.append(f"{path.name} imports {name}")
    assert offending == []


def test_the_guard_sees_imports():
    # The check above is only worth something if it finds imports at all.
    assert "routectl.core.regions" in imported_modules(CORE / "policy.py")


def _constants(node: ast.expr) -> list[str]:
    """String constants of an operand: a literal, or the items of a literal tuple/list/set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [e.value for e in node.elts if isinstance(e, ast.Constant)]
    return []


def name_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, name) of every comparison of a strategy name, or of a filter name against an
    expression that speaks of a filter, with a string literal."""
    strategies, filters = set(STRATEGIES), {f.name for f in FILTERS}
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for operand in operands:
            others = " ".join(ast.unparse(o) for o in operands if o is not operand).lower()
            for value in _constants(operand):
                if value in strategies or (value in filters and "filter" in others):
                    found.append((node.lineno, value))
    return found


def test_no_strategy_or_filter_is_compared_by_name_outside_the_registries():
    offending = []
    for path in sorted(SRC.rglob("*.py")):
        if path in REGISTRIES:
            continue
        for line, name in name_comparisons(path.read_text(encoding="utf-8")):
            offending.append(f"{path.relative_to(SRC)}:{line} compares {name!r}")
    assert offending == []


def test_the_name_guard_sees_comparisons():
    planted = (
        "if route.strategy == 'weighted': pass\n"
        "if spec.get('strategy') in ('cheapest', 'priority'): pass\n"
        "if refusal.filter.name != 'classification': pass\n"
        "if feature == 'language': pass\n"  # a traffic feature, not a filter
    )
    assert name_comparisons(planted) == [
        (1, "weighted"),
        (2, "cheapest"),
        (2, "priority"),
        (3, "classification"),
    ]
