"""What every rule sees: the loaded documents, indexed, and the resolved policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from routectl.core.policy import ModelInfo, Policy, RouteInfo, resolve, tier_models
from routectl.lint.matching import CoverIndex
from routectl.loader.yaml_source import Location, SourceDocument


@dataclass
class LintContext:
    documents: list[SourceDocument]
    # (kind, name) of documents that failed to load: references to them are not
    # "unknown", the load error already says what is wrong.
    broken: set[tuple[str, str]] = field(default_factory=set)
    # (file, YAML) of those failed documents, for rules that read raw text (secrets).
    unvalidated: list[tuple[str, Any]] = field(default_factory=list)

    @cached_property
    def first(self) -> dict[tuple[str, str], SourceDocument]:
        """The first definition of every (kind, name): the one the policy uses."""
        out: dict[tuple[str, str], SourceDocument] = {}
        for source in self.documents:
            out.setdefault((source.kind, source.name), source)
        return out

    @cached_property
    def _by_kind(self) -> dict[str, list[SourceDocument]]:
        out: dict[str, list[SourceDocument]] = {}
        for source in self.first.values():
            out.setdefault(source.kind, []).append(source)
        return out

    def of_kind(self, kind: str) -> list[SourceDocument]:
        """The documents of ``kind`` that the policy uses (duplicates left out), in file order."""
        return self._by_kind.get(kind, [])

    def defines(self, kind: str, name: str) -> bool:
        return (kind, name) in self.first or (kind, name) in self.broken

    def source(self, kind: str, name: str) -> SourceDocument:
        return self.first[(kind, name)]

    @cached_property
    def policy(self) -> Policy:
        return resolve(source.doc for source in self.documents)

    @cached_property
    def routes(self) -> list[tuple[RouteInfo, SourceDocument]]:
        """Routes in evaluation order, each with its document."""
        return [(info, self.source("Route", info.name)) for info in self.policy.routes]

    @cached_property
    def reaching(self) -> dict[str, list[str]]:
        """Route name -> the defined classifications whose traffic can reach it.

        A classification reaches a route that matches it unless an earlier
        route covers the route for that classification (see
        :mod:`routectl.lint.matching`), or the route is limited to consumers
        none of whom may send it.
        """
        policy = self.policy
        defined = list(policy.classifications)
        index = CoverIndex()
        out: dict[str, list[str]] = {}
        for route, _ in self.routes:
            classes = [
                c for c in defined if not route.classifications or c in route.classifications
            ]
            by_consumers = _consumer_classifications(policy, route)
            if by_consumers is not None:
                classes = [c for c in classes if c in by_consumers]
            out[route.name] = [c for c in classes if index.first_coverer(route, c) is None]
            index.add(route)
        return out

    def model(self, name: str) -> ModelInfo | None:
        return self.policy.models.get(name)

    @cached_property
    def _tier_members(self) -> dict[str, tuple[str, ...]]:
        return {tier: tier_models(tier, self.policy.models) for tier in self.policy.tiers}

    def tier_members(self, tier: str) -> tuple[str, ...]:
        """The models of ``tier``, cheapest first."""
        return self._tier_members.get(tier, ())

    def name_location(self, source: SourceDocument) -> Location:
        return source.locate("metadata", "name")


def _consumer_classifications(policy: Policy, route: RouteInfo) -> set[str] | None:
    """What the route's consumers may send, when every one of them is limited."""
    if not route.consumers:
        return None
    allowed: set[str] = set()
    for name in route.consumers:
        consumer = policy.consumers.get(name)
        if consumer is None or not consumer.classifications:
            return None
        allowed |= consumer.classifications
    return allowed


def broken_documents(raw_documents: Iterable[object]) -> set[tuple[str, str]]:
    """(kind, name) of plain YAML documents, for documents that failed validation."""
    out: set[tuple[str, str]] = set()
    for raw in raw_documents:
        if not isinstance(raw, dict):
            continue
        metadata = raw.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(raw.get("kind"), str) and isinstance(name, str):
            out.add((raw["kind"], name))
    return out
