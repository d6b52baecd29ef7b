"""The core is pure: it imports the standard library, pydantic and itself, nothing else.

CLI, loader, store, gateway, simulate and reconcile are edges around it; if
the core imported one, the evaluator the gateway runs could not be the one
that lint, test and simulate run offline.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "src" / "routectl" / "core"
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}


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
