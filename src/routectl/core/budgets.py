"""Budgets: which spend counts now, and what a spend snapshot means for routing.

A budget (a consumer's, or its team's) allows ``amount_usd`` per period. Spend is
kept in buckets named by :func:`window`: one bucket per calendar period in the
budget's time zone (``2026-12`` for December), or, for a rolling budget, fixed
sub-buckets of which the window sums the last ones (hours for a day, six hours
for a week, days for a 30-day month; a rolling window is thus exact to its
bucket size). The gateway adds each answer's cost to ``window(...).charge``
and reads ``window(...).read``; simulate does the same over a trace's clock.

:func:`budget_state` turns the spend of a consumer's budgets into the one
state routing uses: the highest share used (what a route's ``budget`` match
reads) and the most severe threshold reached (``block`` over ``downgrade``,
a higher threshold over a lower one). A threshold applies once spend reaches
it: the request whose cost crosses 80% is served as before, the next one is
downgraded. ``alert`` thresholds change no route; they are reported.

Pure: the caller passes the clock (epoch seconds) and the spend.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from routectl.core import manifest as m
from routectl.core.request import BudgetState

NO_BUDGET = BudgetState(used=0.0)

# Rolling windows: (bucket seconds, buckets summed) per period.
ROLLING = {
    "daily": (3600, 24),
    "weekly": (6 * 3600, 28),
    "monthly": (86400, 30),
}


@dataclass(frozen=True, slots=True)
class Threshold:
    fraction: float  # 0.8 for 80%
    action: str  # downgrade | block | alert
    tier: str | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetInfo:
    key: str  # "consumer/app" or "team/web": names the spend line
    owner_kind: str  # consumer | team
    owner: str
    amount_usd: float
    period: str  # daily | weekly | monthly
    time_zone: str
    rolling: bool
    thresholds: tuple[Threshold, ...]  # ascending; a budget without any blocks at 100%
    charge_shadows: bool


@dataclass(frozen=True, slots=True)
class Window:
    charge: str  # the bucket this moment's spend goes to
    read: tuple[str, ...]  # the buckets whose sum is the spend of the current period


def budget_info(owner_kind: str, owner: str, spec: m.Budget) -> BudgetInfo:
    thresholds = tuple(
        sorted(
            (Threshold(t.at / 100.0, t.action.value, t.tier, t.route) for t in spec.thresholds),
            key=lambda t: (t.fraction, t.action),
        )
    ) or (Threshold(1.0, "block"),)
    return BudgetInfo(
        key=f"{owner_kind}/{owner}",
        owner_kind=owner_kind,
        owner=owner,
        amount_usd=spec.amount,
        period=spec.period.value,
        time_zone=spec.time_zone,
        rolling=spec.rolling,
        thresholds=thresholds,
        charge_shadows=spec.charge_shadows,
    )


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def window(budget: BudgetInfo, now: float) -> Window:
    """The buckets of ``budget`` at epoch second ``now``."""
    if budget.rolling:
        size, count = ROLLING[budget.period]
        index = int(now // size)
        prefix = f"{budget.key}@r{size}:"
        return Window(
            prefix + str(index), tuple(prefix + str(i) for i in range(index - count + 1, index + 1))
        )
    local = datetime.fromtimestamp(now, _zone(budget.time_zone))
    if budget.period == "monthly":
        label = f"{local.year:04d}-{local.month:02d}"
    elif budget.period == "weekly":
        start = local.date() - timedelta(days=local.weekday())  # weeks start on Monday
        label = f"w{start.isoformat()}"
    else:
        label = local.date().isoformat()
    bucket = f"{budget.key}@{label}"
    return Window(bucket, (bucket,))


def period_start(budget: BudgetInfo, now: float) -> datetime:
    """When the current period began (a rolling window: ``now`` minus its length)."""
    if budget.rolling:
        size, count = ROLLING[budget.period]
        return datetime.fromtimestamp((int(now // size) - count + 1) * size, UTC)
    local = datetime.fromtimestamp(now, _zone(budget.time_zone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if budget.period == "monthly":
        return day.replace(day=1)
    if budget.period == "weekly":
        return day - timedelta(days=local.weekday())
    return day


def spend_in_window(budget: BudgetInfo, now: float, buckets: Mapping[str, float]) -> float:
    return sum(buckets.get(key, 0.0) for key in window(budget, now).read)


def budget_state(budgets: Sequence[BudgetInfo], spent: Mapping[str, float]) -> BudgetState:
    """The routing state of a consumer whose budgets have spent ``spent[budget.key]`` USD."""
    if not budgets:
        return NO_BUDGET
    used = 0.0
    acting: tuple[int, float, BudgetInfo, Threshold] | None = None
    alerts: list[tuple[str, float]] = []
    for budget in budgets:
        fraction = spent.get(budget.key, 0.0) / budget.amount_usd
        used = max(used, fraction)
        for threshold in budget.thresholds:
            if fraction < threshold.fraction:
                break
            if threshold.action == "alert":
                alerts.append((budget.key, threshold.fraction))
                continue
            severity = (2 if threshold.action == "block" else 1, threshold.fraction)
            if acting is None or severity > acting[:2]:
                acting = (*severity, budget, threshold)
    if acting is None:
        return BudgetState(used=used, alerts=tuple(alerts))
    _, _, budget, threshold = acting
    return BudgetState(
        used=used,
        action=threshold.action,
        budget=budget.key,
        threshold=threshold.fraction,
        amount_usd=budget.amount_usd,
        period=budget.period,
        tier=threshold.tier,
        route=threshold.route,
        alerts=tuple(alerts),
    )


def state_at(budgets: Sequence[BudgetInfo], fraction: float) -> BudgetState:
    """The state when every one of ``budgets`` has used ``fraction`` (explain, policy tests)."""
    return budget_state(budgets, {b.key: fraction * b.amount_usd for b in budgets})


def charge_cost(
    price_input: float,
    price_output: float,
    price_cached_input: float | None,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
) -> float:
    """USD at list prices; cached input at the cached price when the model has one."""
    cached = min(max(cached_tokens, 0), input_tokens) if price_cached_input is not None else 0
    return (
        (input_tokens - cached) * price_input
        + cached * (price_cached_input or 0.0)
        + output_tokens * price_output
    ) / 1_000_000
