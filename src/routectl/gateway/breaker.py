"""Per-provider circuit breakers: keep a failing provider out for a cooldown.

closed --(N consecutive failures)--> open --(cooldown)--> half-open
half-open lets exactly one probe through: success closes, failure re-opens.

Breakers are keyed by provider name and outlive configuration revisions, so a
reload does not hand a failing provider a fresh start. Everything runs on the
event loop thread, so plain attributes need no lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Breaker:
    failure_threshold: int
    cooldown_s: float
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if now - self.opened_at < self.cooldown_s or self.probing:
            return False
        self.probing = True  # half-open: this caller is the probe
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at = now
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing else "open"


@dataclass
class Breakers:
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    _by_provider: dict[str, Breaker] = field(default_factory=dict)

    def get(self, provider: str) -> Breaker:
        breaker = self._by_provider.get(provider)
        if breaker is None:
            breaker = Breaker(self.failure_threshold, self.cooldown_s)
            self._by_provider[provider] = breaker
        return breaker

    def allow(self, provider: str) -> bool:
        return self.get(provider).allow(time.monotonic())

    def record(self, provider: str, ok: bool) -> None:
        breaker = self.get(provider)
        if ok:
            breaker.success()
        else:
            breaker.failure(time.monotonic())

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self._by_provider.items()}
