"""Jurisdiction arithmetic: does a provider's jurisdiction satisfy an allow-list?

A jurisdiction is an ISO 3166-1 alpha-2 country (``DE``) or a region code
(``EU``). A country satisfies a region that contains it; a region satisfies a
region that contains all of it (``EU`` inside ``EEA``), never the reverse: a
provider that only promises "EU" does not satisfy an allow-list of ``[DE]``.
"""

from __future__ import annotations

from collections.abc import Iterable

EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
REGIONS: dict[str, frozenset[str]] = {
    "EU": EU,
    "EEA": EU | {"IS", "LI", "NO"},
    "GCC": frozenset({"SA", "AE", "QA", "KW", "BH", "OM"}),
    "CIS": frozenset({"AM", "AZ", "BY", "KZ", "KG", "MD", "RU", "TJ", "UZ"}),
}


def members(code: str) -> frozenset[str]:
    """The countries a jurisdiction code stands for."""
    return REGIONS.get(code, frozenset({code}))


def satisfies(jurisdiction: str, allowed: Iterable[str]) -> bool:
    """True when every country of ``jurisdiction`` lies inside some allowed code."""
    own = members(jurisdiction)
    return any(own <= members(code) for code in allowed)
