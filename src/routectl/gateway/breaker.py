"""Per-provider circuit breakers: keep a failing provider out for a cooldown, and bring it back.

    closed --(N consecutive failures)--> open --(cooldown)--> half-open (one probe in flight)
    half-open --success--> closed
    half-open --failure--> open again, until one cooldown after the probe was *sent*
    half-open --neither (a request fault such as a 400 context_length_exceeded, an error
                before the request left)--> open, with the cooldown already over: the next
                request is the probe
    half-open --no outcome for a whole cooldown (a lost probe)--> another probe may go

So a provider that recovers at time T is probed again by T + cooldown whatever happened
before: a failed probe cannot push the next one past one cooldown from its own start (a
probe that times out does not add its timeout), and nothing can leave a probe marked in
flight for longer than a cooldown. Failures of requests sent before the circuit opened do
not re-arm it, and failures of requests sent before it last closed do not re-open it.

Breakers are keyed by provider and carried across configuration revisions, so a reload does
not hand a failing provider a fresh start; a provider whose endpoint or credentials changed
(:meth:`Breakers.retain`) does get one, and a removed provider's breaker is dropped.
Everything runs on the event loop thread, so plain attributes need no lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

STATES = ("closed", "open", "half-open")


@dataclass(slots=True)
class Breaker:
    failure_threshold: int
    cooldown_s: float
    failures: int = 0
    opened_at: float | None = None  # None: closed
    probe_sent_at: float | None = None  # half-open: when the probe was let through
    closed_at: float | None = None  # when a success last closed it

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self.probe_sent_at is None else "half-open"

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if self.probe_sent_at is not None:
            if now - self.probe_sent_at < self.cooldown_s:
                return False  # one probe at a time
            # The probe has not reported for a whole cooldown: presume it lost.
        elif now - self.opened_at < self.cooldown_s:
            return False
        self.probe_sent_at = now  # half-open: this caller is the probe
        return True

    def success(self, now: float | None = None) -> None:
        if self.opened_at is not None or self.closed_at is None:
            self.closed_at = now
        self.failures = 0
        self.opened_at = None
        self.probe_sent_at = None

    def failure(self, now: float, sent_at: float | None = None) -> None:
        if sent_at is not None and self.closed_at is not None and sent_at < self.closed_at:
            return  # sent before the provider last proved healthy: says nothing of it now
        if self.probe_sent_at is not None:
            # The probe failed: out for one cooldown counted from when it was sent.
            self.opened_at = self.probe_sent_at
            self.probe_sent_at = None
            return
        self.failures += 1
        if self.opened_at is None and self.failures >= self.failure_threshold:
            self.opened_at = now

    def release(self) -> None:
        """An outcome that says nothing about the provider: free the probe, change nothing else."""
        self.probe_sent_at = None


@dataclass
class Breakers:
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    _by_provider: dict[str, Breaker] = field(default_factory=dict)
    _identity: dict[str, object] = field(default_factory=dict)
    transitions: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _reports: dict[str, int] = field(default_factory=dict)

    def reports(self, provider: str) -> int:
        """How many outcomes were recorded for ``provider`` (to tell if an attempt reported)."""
        return self._reports.get(provider, 0)

    def get(self, provider: str) -> Breaker:
        breaker = self._by_provider.get(provider)
        if breaker is None:
            breaker = Breaker(self.failure_threshold, self.cooldown_s)
            self._by_provider[provider] = breaker
        return breaker

    def allow(self, provider: str) -> bool:
        breaker = self.get(provider)
        if breaker.opened_at is None:
            return True  # the common case, without a clock read
        before = breaker.state
        allowed = breaker.allow(time.monotonic())
        self._note(provider, before, breaker.state)
        return allowed

    def record(self, provider: str, ok: bool, sent_at: float | None = None) -> None:
        """An outcome; ``sent_at`` (time.monotonic() when the request left) lets a failure of
        a request sent before the circuit last closed be ignored."""
        breaker = self.get(provider)
        self._reports[provider] = self._reports.get(provider, 0) + 1
        before = breaker.state
        if ok:
            breaker.success(time.monotonic())
        else:
            breaker.failure(time.monotonic(), sent_at)
        self._note(provider, before, breaker.state)

    def release(self, provider: str) -> None:
        breaker = self.get(provider)
        before = breaker.state
        breaker.release()
        self._note(provider, before, breaker.state)

    def _note(self, provider: str, before: str, after: str) -> None:
        if before != after:
            key = (provider, before, after)
            self.transitions[key] = self.transitions.get(key, 0) + 1

    def retain(self, identities: Mapping[str, object]) -> None:
        """A new revision: keep the breakers of unchanged providers, reset changed, drop gone.

        ``identities`` maps each provider to what defines it (endpoint, credentials): a
        provider whose identity changed is a different upstream and starts closed.
        """
        for provider in list(self._by_provider):
            if provider not in identities:
                del self._by_provider[provider]
            elif self._identity.get(provider, identities[provider]) != identities[provider]:
                breaker = self._by_provider.pop(provider)
                self._note(provider, breaker.state, "closed")
        self._identity = dict(identities)

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self._by_provider.items()}


class BreakerCollector:
    """``/metrics``: each provider's breaker state (one-hot) and its transitions."""

    def __init__(self, breakers: Breakers) -> None:
        self.breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "routectl_gateway_breaker_state",
            "Circuit breaker state per provider (1 for the current state).",
            labels=["provider", "state"],
        )
        for provider, current in sorted(self.breakers.states().items()):
            for name in STATES:
                state.add_metric([provider, name], 1.0 if name == current else 0.0)
        transitions = CounterMetricFamily(
            "routectl_gateway_breaker_transitions",
            "Circuit breaker state changes per provider.",
            labels=["provider", "from_state", "to_state"],
        )
        for (provider, before, after), count in sorted(self.breakers.transitions.items()):
            transitions.add_metric([provider, before, after], count)
        yield from (state, transitions)
