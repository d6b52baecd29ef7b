"""The rpm/tpm limits of models and providers, enforced in this process.

The windows are the ones ``routectl simulate`` models: fixed minutes of the
clock, in which a model or provider with ``rateLimits.rpm`` admits that many
requests and with ``tpm`` that many tokens (input + output). A request is
counted when it is sent, with the tokens it was routed with (the input
estimate and the requested or default output); when the answer reports usage,
the count is corrected to it, so the window holds what the decision log
records and a replay of that log counts the same tokens. A model over its
limit, or whose provider is, is not sent to: the attempt is rate limited, like
an upstream's 429, and the route's triggers decide whether the chain moves on.

Counters are per process; counters shared across replicas are a store's job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from routectl.core.policy import Policy


def minute_of(epoch_seconds: float) -> int:
    return int(epoch_seconds // 60)


@dataclass(slots=True)
class Window:
    minute: int = -1
    requests: int = 0
    tokens: int = 0


@dataclass
class RateLimiter:
    _windows: dict[tuple[str, str], Window] = field(default_factory=dict)

    def _window(self, scope: str, name: str, minute: int) -> Window:
        window = self._windows.get((scope, name))
        if window is None:
            window = self._windows[(scope, name)] = Window()
        if window.minute != minute:
            window.minute, window.requests, window.tokens = minute, 0, 0
        return window

    def admit(
        self, policy: Policy, model: str, tokens: int, now: float | None = None
    ) -> str | None:
        """Count one request of ``tokens`` to ``model``; None if admitted, else which limit."""
        info = policy.models[model]
        provider = policy.providers[info.provider]
        minute = minute_of(time.time() if now is None else now)
        scopes = []
        for scope, name, rpm, tpm in (
            ("model", model, info.rpm, info.tpm),
            ("provider", provider.name, provider.rpm, provider.tpm),
        ):
            if rpm is None and tpm is None:
                continue
            window = self._window(scope, name, minute)
            if rpm is not None and window.requests + 1 > rpm:
                return f"rate limited: {scope} {name} is at its {rpm} requests per minute"
            if tpm is not None and window.tokens + tokens > tpm:
                return f"rate limited: {scope} {name} is at its {tpm} tokens per minute"
            scopes.append(window)
        for window in scopes:
            window.requests += 1
            window.tokens += tokens
        return None

    def settle(self, policy: Policy, model: str, delta_tokens: int, admitted: float) -> None:
        """Correct the tokens counted at ``admitted`` for ``model`` by ``delta_tokens``."""
        if not delta_tokens:
            return
        info = policy.models[model]
        minute = minute_of(admitted)
        for key in (("model", model), ("provider", info.provider)):
            window = self._windows.get(key)
            if window is not None and window.minute == minute:
                window.tokens = max(0, window.tokens + delta_tokens)
