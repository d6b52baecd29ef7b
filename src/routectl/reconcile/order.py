r"""The order operations run in, as data.

A resource may only refer to resources of the kinds it depends on::

    Tier   Classification   Intent   Provider
      \          |     \      |  \      |
       \         |      Consumer  \     |
        \        |     /           \    |
         `------ Model <------------`---'      Model -> Provider, Tier
                   |
                 Route                          Route -> Model, Tier, Intent,
                   |                                     Classification, Consumer
               Experiment                       Experiment -> Route, Model

Creates and updates go top-down (a provider exists before its models, a model
before the routes naming it); deletes go bottom-up. The store applies a change
set atomically, so the order matters for readers of a plan and for gateways
that apply one operation at a time, the same reason Kong decK orders its sync.
"""

from __future__ import annotations

from graphlib import TopologicalSorter

DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "Tier": (),
    "Classification": (),
    "Intent": (),
    "Provider": (),
    "Team": ("Tier",),
    "Consumer": ("Intent", "Classification", "Tier"),
    "Model": ("Provider", "Tier"),
    "Route": ("Model", "Tier", "Intent", "Classification", "Consumer"),
    "Experiment": ("Route", "Model"),
}


def _ranks() -> dict[str, int]:
    rank: dict[str, int] = {}
    for kind in TopologicalSorter(DEPENDS_ON).static_order():
        rank[kind] = max((rank[dep] + 1 for dep in DEPENDS_ON[kind]), default=0)
    return rank


RANK: dict[str, int] = _ranks()


def apply_order(action: str, kind: str, name: str) -> tuple[int, int, str, str]:
    """Sort key: creates/updates by ascending rank, then deletes by descending rank."""
    rank = RANK.get(kind, len(RANK))
    if action == "delete":
        return (1, -rank, kind, name)
    return (0, rank, kind, name)
