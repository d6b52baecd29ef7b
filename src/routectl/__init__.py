"""routectl: LLM routing policy as code."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def version() -> str:
    """The installed version (read lazily: importlib.metadata costs ~0.1 s at startup)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("routectl")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return version()
    raise AttributeError(name)
