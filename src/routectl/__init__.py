"""routectl: LLM routing policy as code."""

from __future__ import annotations


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("routectl")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
