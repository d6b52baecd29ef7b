"""When does one route's match take all the traffic of another's?

A route's match is a conjunction of fields; an empty field matches anything.
An earlier route *covers* a later one when every request the later one
matches is matched by the earlier one first: field by field, the earlier
field is empty, or the later field is non-empty and a subset of it (metadata:
the earlier route's pairs are a subset of the later one's).

Comparing every route with every earlier one is quadratic (12.5 million pairs
for 5,000 routes), so :class:`CoverIndex` indexes the routes seen so far by
the values of each set field: an earlier route can cover a later one only if
it is a wildcard in that field or holds *every* value the later one lists, so
the candidates are the wildcards plus the holders of any one of those values.
The field with the fewest candidates is the one searched.
"""

from __future__ import annotations

from collections.abc import Iterator

from routectl.core.policy import RouteInfo

SET_FIELDS = ("intents", "classifications", "consumers", "languages", "teams")


def _field(route: RouteInfo, name: str, classification: str | None) -> frozenset[str]:
    if name == "classifications" and classification is not None:
        return frozenset([classification])
    return getattr(route, name)


def covers(earlier: RouteInfo, later: RouteInfo, classification: str | None = None) -> bool:
    """True when ``earlier`` matches everything ``later`` matches.

    With ``classification``, ``later`` is taken to match only that classification.
    """
    for name in SET_FIELDS:
        wide = getattr(earlier, name)
        narrow = _field(later, name, classification)
        if wide and not (narrow and narrow <= wide):
            return False
    return set(earlier.metadata) <= set(later.metadata)


class CoverIndex:
    """The routes added so far, indexed by the values of their match fields."""

    def __init__(self) -> None:
        self._wildcards: dict[str, list[RouteInfo]] = {name: [] for name in SET_FIELDS}
        self._holders: dict[str, dict[str, list[RouteInfo]]] = {name: {} for name in SET_FIELDS}

    def add(self, route: RouteInfo) -> None:
        for name in SET_FIELDS:
            values = getattr(route, name)
            if not values:
                self._wildcards[name].append(route)
            for value in values:
                self._holders[name].setdefault(value, []).append(route)

    def _candidates(self, later: RouteInfo, classification: str | None) -> list[RouteInfo]:
        best: list[RouteInfo] | None = None
        best_size = -1
        for name in SET_FIELDS:
            wildcards = self._wildcards[name]
            values = _field(later, name, classification)
            holders: list[RouteInfo] = []
            if values:
                holders = min(
                    (self._holders[name].get(v, []) for v in values),
                    key=len,
                )
            size = len(wildcards) + len(holders)
            if best is None or size < best_size:
                best, best_size = wildcards + holders, size
        return best or []

    def coverers(self, later: RouteInfo, classification: str | None = None) -> Iterator[RouteInfo]:
        """Routes added so far that cover ``later``, earliest first."""
        found = [
            e for e in self._candidates(later, classification) if covers(e, later, classification)
        ]
        found.sort(key=lambda r: r.position)
        yield from found

    def first_coverer(
        self, later: RouteInfo, classification: str | None = None
    ) -> RouteInfo | None:
        return next(self.coverers(later, classification), None)
