"""What-if scenarios: outages and price changes, parsed from the command line.

A scenario is about the world, not the policy, so it applies to base and head
alike: an outage takes a provider's (or one model's) traffic down in a window,
a price change rescales a model's list prices (routing that depends on cost,
``cheapest`` and ``maxCostPerRequest``, sees the new prices too).

Outage semantics (the core's :mod:`routectl.core.failover`). A model that is
down answers with errors, which a gateway sees as ``5xx``, ``connection-error``
or ``timeout`` (outcome ``unavailable``). A request whose next model is down
moves down its fallback chain only when the route falls back on at least one
of those triggers; otherwise it fails, and the report counts it among the
unroutable with the reason. Rate limits (``rpm``/``tpm`` of a model or its
provider) overflow down the chain only on the ``429`` trigger.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from routectl.core.failover import down_models as core_down_models
from routectl.core.policy import Policy
from routectl.simulate.sources import TrafficError

_RELATIVE = re.compile(r"^\+?(\d+(?:\.\d+)?)(s|m|h)$")


@dataclass(frozen=True)
class Moment:
    """A point in the trace: absolute, or an offset from the trace's first request."""

    absolute: datetime | None = None
    offset: timedelta | None = None

    def at(self, trace_start: datetime | None) -> datetime | None:
        if self.absolute is not None:
            return self.absolute
        if trace_start is None or self.offset is None:
            return None
        return trace_start + self.offset


@dataclass(frozen=True)
class Outage:
    target: str  # provider or model name
    start: Moment | None = None  # None: from the beginning
    end: Moment | None = None  # None: to the end

    @property
    def windowed(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def relative(self) -> bool:
        return any(m is not None and m.offset is not None for m in (self.start, self.end))

    def __str__(self) -> str:
        if not self.windowed:
            return self.target
        return f"{self.target}@{_show(self.start)}..{_show(self.end)}"


def _show(moment: Moment | None) -> str:
    if moment is None:
        return ""
    if moment.absolute is not None:
        return moment.absolute.isoformat(sep=" ")
    return f"+{moment.offset}"


def parse_outage(text: str) -> Outage:
    """``NAME``, ``NAME@START..END``; START/END ISO times or offsets like ``+10m`` (either may
    be empty: ``NAME@..+30m``)."""
    target, sep, window = text.partition("@")
    if not target:
        raise TrafficError(f"--outage {text!r}: expected PROVIDER_OR_MODEL[@START..END]")
    if not sep:
        return Outage(target)
    start, dots, end = window.partition("..")
    if not dots:
        raise TrafficError(
            f"--outage {text!r}: expected a window START..END, e.g. "
            f"{target}@+10m..+25m or {target}@2023-11-16T18:30..2023-11-16T18:45"
        )
    return Outage(target, _moment(start, text), _moment(end, text))


def _moment(text: str, option: str) -> Moment | None:
    text = text.strip()
    if not text:
        return None
    match = _RELATIVE.match(text)
    if match:
        amount = float(match.group(1))
        unit = {"s": "seconds", "m": "minutes", "h": "hours"}[match.group(2)]
        return Moment(offset=timedelta(**{unit: amount}))
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TrafficError(
            f"--outage {option!r}: {text!r} is neither an ISO time nor an offset like +10m"
        ) from None
    if stamp.tzinfo is not None:
        from datetime import UTC

        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return Moment(absolute=stamp)


def check_outages(outages: list[Outage], policies: list[Policy]) -> None:
    for outage in outages:
        if not any(outage.target in p.providers or outage.target in p.models for p in policies):
            raise TrafficError(
                f"--outage {outage}: no provider or model named {outage.target!r} in the policy"
            )


def down_models(outage: Outage, policy: Policy) -> frozenset[str]:
    return core_down_models(policy, (outage.target,))


def parse_price_change(text: str) -> tuple[str, float]:
    """``MODEL=+20%`` (or ``-15%``, ``x1.5``) into (model, multiplier)."""
    model, sep, change = text.partition("=")
    change = change.strip()
    try:
        if not sep or not model:
            raise ValueError
        if change.endswith("%"):
            factor = 1.0 + float(change[:-1]) / 100.0
        elif change.startswith(("x", "*")):
            factor = float(change[1:])
        else:
            raise ValueError
    except ValueError:
        raise TrafficError(
            f"--price-change {text!r}: expected MODEL=+20% (or -10%, or x1.5)"
        ) from None
    if factor < 0:
        raise TrafficError(f"--price-change {text!r}: a price cannot go below zero")
    return model, factor


def apply_prices(policy: Policy, changes: dict[str, float]) -> Policy:
    """A copy of ``policy`` with the given models' prices multiplied."""
    if not changes:
        return policy
    models = dict(policy.models)
    for name, factor in changes.items():
        if name in models:
            model = models[name]
            models[name] = dataclasses.replace(
                model,
                price_input=model.price_input * factor,
                price_output=model.price_output * factor,
                price_cached_input=(
                    model.price_cached_input * factor
                    if model.price_cached_input is not None
                    else None
                ),
            )
    return dataclasses.replace(policy, models=models, _route_index={}, _plan_cache={})


def check_price_changes(changes: dict[str, float], policies: list[Policy]) -> None:
    for name in changes:
        if not any(name in p.models for p in policies):
            raise TrafficError(f"--price-change {name}: no model named {name!r} in the policy")
