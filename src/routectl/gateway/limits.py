"""Budgets and rate limits on the gateway: admit before routing, charge after.

Every counter lives in one :class:`~routectl.counters.base.Counters` store (in
this process, or Redis shared by workers and replicas): consumer spend and
rpm/tpm windows, and the rpm/tpm windows of models and providers.

Per request of a consumer that has a budget or ``rateLimits`` (nobody else
pays anything here):

1. :meth:`Limits.admit`, one counter round trip: counts the request in its
   minute's window and reads the spend of each budget's current window and the
   minute's tokens. Over ``rpm`` or ``tpm``: a 429 ``rate_limit_exceeded`` (the
   limit is the consumer's, so no model of any chain would serve it). Else the
   spend becomes a :class:`~routectl.core.request.BudgetState`, which the core
   evaluator reads (block, downgrade, a route's ``budget`` match).
2. :meth:`Limits.charge`, after the answer: its cost at the answering model's
   list prices (cached input at the cached price) goes to every budget of the
   consumer (its own and its team's) in the bucket of the request's arrival,
   and its tokens to the minute's window. Shadow copies go to a separate
   ``shadow/…`` line unless the budget says ``chargeShadows``.

Spend persists in the gateway's store: charges are also added to pending
deltas, written every ``flush_interval_s`` (additively, so replicas share
rows), and at startup, and again once the counters answer after failing, the
store's buckets seed the counters where they are missing (a restarted single
replica, a restarted and emptied Redis).

When the counter store does not answer, ``fail_closed`` (the default) refuses
with a 503 ``limits_unavailable`` the consumers whose budget can block or who
have rate limits; everyone else is served with the spend taken as unknown (no
downgrade). With ``fail_closed`` off everyone is served. That lasts until the
store's spend is back in the counters (checked every flush interval once they
answer): a Redis that restarted empty is never read as "nothing spent".
Charges that Redis missed still reach the store.

Models and providers with ``rateLimits`` (:meth:`Limits.admit_model`): the
windows are the ones ``routectl simulate`` models, fixed minutes of the clock
(of the request's arrival), in which ``rpm`` admits that many requests and
``tpm`` that many tokens (input + output). An attempt is counted when it is
about to be sent, with the tokens it was routed with (the input estimate and
the requested or default output), by one increment-and-read; one over a limit
takes its increments back and is not sent: it is rate limited, like an
upstream's 429, and the route's triggers decide whether the chain moves on.
When the answer reports usage the window is corrected to it
(:meth:`Limits.settle_model`), so it holds what the decision log records and a
replay of that log counts the same tokens. If the counters do not answer, the
attempt is sent: the upstream's own 429 stays the backstop, and a provider
limit is no reason to refuse a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from routectl.core.budgets import BudgetInfo, budget_state, charge_cost, window
from routectl.core.policy import ConsumerInfo, ModelInfo, Policy
from routectl.core.request import BudgetState
from routectl.counters.base import Counters, CountersUnavailable
from routectl.gateway.metrics import GatewayMetrics
from routectl.store.base import ConfigStore

log = logging.getLogger("routectl.gateway.limits")

RATE_TTL_S = 120
# How long a spend bucket lives in the counter store: its period and a margin.
BUCKET_TTL_S = {"daily": 2 * 86400, "weekly": 8 * 86400, "monthly": 32 * 86400}


@dataclass(frozen=True, slots=True)
class Rejection:
    status: int
    message: str
    type: str
    code: str
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    budget: BudgetState | None
    rejection: Rejection | None = None


ADMITTED = Admission(None)


@dataclass(slots=True)
class Admitting:
    """An admission whose counter round trip is in flight."""

    consumer: ConsumerInfo
    now: float
    spans: list[int]  # how many read keys each budget has
    values: Awaitable[list[float]]


def _rate_keys(consumer: str, now: float) -> tuple[str, str]:
    return _window_keys("consumer", consumer, int(now // 60))


def _window_keys(scope: str, name: str, minute: int) -> tuple[str, str]:
    return f"rate/{scope}/{name}@{minute}:req", f"rate/{scope}/{name}@{minute}:tok"


def _model_scopes(policy: Policy, model: str) -> list[tuple[str, str, int | None, int | None]]:
    """The model's and its provider's windows that have a limit: (scope, name, rpm, tpm)."""
    info = policy.models[model]
    provider = policy.providers[info.provider]
    return [
        (scope, name, rpm, tpm)
        for scope, name, rpm, tpm in (
            ("model", model, info.rpm, info.tpm),
            ("provider", provider.name, provider.rpm, provider.tpm),
        )
        if rpm is not None or tpm is not None
    ]


def _ttl(budget: BudgetInfo) -> int:
    return BUCKET_TTL_S[budget.period]


def shadow_line(bucket: str) -> str:
    return "shadow/" + bucket


class Limits:
    def __init__(
        self,
        counters: Counters,
        store: ConfigStore | None,
        metrics: GatewayMetrics,
        fail_closed: bool = True,
        flush_interval_s: float = 1.0,
    ) -> None:
        self.counters = counters
        self.store = store
        self.metrics = metrics
        self.fail_closed = fail_closed
        self.flush_interval_s = flush_interval_s
        self._pending: dict[str, float] = {}
        self._alerted: set[tuple[str, float, str]] = set()
        self._last_error = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._charges: set[asyncio.Task[None]] = set()
        self._policy: Policy | None = None
        self._down = False  # a counter call failed since the last restore

    # ------------------------------------------------------------------ lifecycle

    async def start(self, policy: Policy) -> None:
        """Seed the counters from the store's persisted spend, then flush periodically."""
        self._policy = policy
        metered = any(c.budgets or c.rpm or c.tpm for c in policy.consumers.values())
        if metered and self.counters.name == "memory" and hasattr(self.store, "wait_for_change"):
            # A store made for replicas, counters that are not shared.
            log.warning(
                "budgets and consumer rate limits are counted in this process only; "
                "replicas sharing this store need --counters redis://HOST:PORT/DB"
            )
        if self.store is not None and hasattr(self.store, "read_spend"):
            await self._restore(policy)
            self._flusher = asyncio.create_task(self._flush_forever())

    async def _restore(self, policy: Policy) -> bool:
        """Put the store's spend into the counters where they lack it (SET … NX): after a
        start, and after the counters failed (a restarted Redis comes back empty). The
        store lags other replicas by their last flush interval at most."""
        assert self.store is not None
        stored = await asyncio.to_thread(self.store.read_spend)  # type: ignore[attr-defined]
        budgets = policy.budgets
        seeds = {}
        for bucket, usd in stored.items():
            key = bucket.removeprefix("shadow/").split("@", 1)[0]
            budget = budgets.get(key)
            seeds[bucket] = (usd, _ttl(budget) if budget else BUCKET_TTL_S["monthly"])
        try:
            restored = await self.counters.seed(seeds)
        except CountersUnavailable as exc:
            self._error(exc)
            return False
        if restored:
            log.info("restored %d spend bucket(s) from the store", restored)
        return True

    def charge_soon(self, charge: Coroutine[Any, Any, None]) -> None:
        """Run a charge beside the next requests rather than before them: on a keep-alive
        connection the server starts the next request only once this one's handler has
        returned. Its counter writes go out on the next turn of the event loop, before
        the client can have read the answer and sent another request."""
        task = asyncio.ensure_future(charge)
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def close(self) -> None:
        if self._charges:
            await asyncio.gather(*self._charges, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush()
        await self.counters.close()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self._flush()
            if self._down and not self._pending and self._policy is not None:
                self._down = False  # a failure during the restore sets it again
                try:
                    await self._restore(self._policy)
                except Exception as exc:  # the store is down too: try again next turn
                    self._down = True
                    log.error("cannot restore spend from the store: %s", exc)

    async def _flush(self) -> None:
        if not self._pending or self.store is None:
            return
        pending, self._pending = self._pending, {}
        try:
            await asyncio.to_thread(self.store.add_spend, pending)  # type: ignore[attr-defined]
        except Exception as exc:  # the store is down: keep the deltas for the next flush
            for key, usd in pending.items():
                self._pending[key] = self._pending.get(key, 0.0) + usd
            log.error("cannot persist spend: %s", exc)

    def _error(self, exc: Exception) -> None:
        self._down = True
        self.metrics.counter_errors.inc()
        now = time.monotonic()
        if now - self._last_error > 5.0:  # one line per 5 s, not one per request
            log.error("counter store unavailable: %s", exc)
            self._last_error = now

    # ------------------------------------------------------------------ per request

    def begin(self, policy: Policy, consumer_name: str | None, now: float) -> Admitting | None:
        """Start reading the consumer's counters (None: nothing to meter for it)."""
        consumer = policy.consumers.get(consumer_name) if consumer_name else None
        if consumer is None or not (consumer.budgets or consumer.rpm or consumer.tpm):
            return None
        self._policy = policy  # the revision being served, for restores
        reads: list[str] = []
        spans: list[int] = []
        for budget in consumer.budgets:
            keys = window(budget, now).read
            reads.extend(keys)
            spans.append(len(keys))
        add: dict[str, tuple[float, int]] = {}
        req_key, tok_key = _rate_keys(consumer.name, now)
        if consumer.rpm:
            add[req_key] = (1.0, RATE_TTL_S)
            reads.append(req_key)
        if consumer.tpm:
            reads.append(tok_key)
        return Admitting(consumer, now, spans, self.counters.start(add, reads))

    async def admit(self, policy: Policy, consumer_name: str | None, now: float) -> Admission:
        admitting = self.begin(policy, consumer_name, now)
        return ADMITTED if admitting is None else await self.settle(admitting)

    @staticmethod
    def abandon(admitting: Admitting | None) -> None:
        """A request refused before its admission was awaited (a bad body)."""
        if admitting is not None and hasattr(admitting.values, "close"):
            admitting.values.close()  # type: ignore[attr-defined]

    async def settle(self, admitting: Admitting) -> Admission:
        """The admission once the counters answered."""
        consumer, now, spans = admitting.consumer, admitting.now, admitting.spans
        budgets = consumer.budgets
        if self._down:  # the counters failed and the store's spend is not back in them yet
            self.abandon(admitting)
            return self._unavailable(consumer)
        try:
            values = await admitting.values
        except CountersUnavailable as exc:
            self._error(exc)
            return self._unavailable(consumer)
        if consumer.rpm and values[len(values) - (2 if consumer.tpm else 1)] > consumer.rpm:
            return self._rate_limited(consumer, "rpm", consumer.rpm, now)
        if consumer.tpm and values[-1] >= consumer.tpm:
            return self._rate_limited(consumer, "tpm", consumer.tpm, now)
        if not budgets:
            return ADMITTED
        spent: dict[str, float] = {}
        offset = 0
        for budget, span in zip(budgets, spans, strict=True):
            spent[budget.key] = sum(values[offset : offset + span])
            offset += span
        state = budget_state(budgets, spent)
        for budget in budgets:
            self.metrics.budget_used.labels(budget.key).set(spent[budget.key] / budget.amount_usd)
        for key, threshold in state.alerts:
            bucket = window(next(b for b in budgets if b.key == key), now).charge
            if (key, threshold, bucket) not in self._alerted:
                self._alerted.add((key, threshold, bucket))
                self.metrics.budget_alerts.labels(key, f"{threshold:.0%}").inc()
                log.warning(
                    "budget %s reached its %.0f%% alert threshold (%.1f%% used)",
                    key,
                    threshold * 100,
                    state.used * 100,
                )
        if state.action == "block":
            self.metrics.rejected(consumer, "budget_exceeded")
        elif state.action == "downgrade":
            self.metrics.downgrades.labels(consumer.name, consumer.team or "", state.budget).inc()
        return Admission(state)

    def _unavailable(self, consumer: ConsumerInfo) -> Admission:
        can_block = (
            consumer.rpm
            or consumer.tpm
            or any(t.action == "block" for b in consumer.budgets for t in b.thresholds)
        )
        if self.fail_closed and can_block:
            self.metrics.rejected(consumer, "limits_unavailable")
            return Admission(
                None,
                Rejection(
                    503,
                    "budget and rate-limit counters are unavailable; retry shortly",
                    "service_unavailable",
                    "limits_unavailable",
                    retry_after=1,
                ),
            )
        return ADMITTED

    def _rate_limited(self, consumer: ConsumerInfo, unit: str, limit: int, now: float) -> Admission:
        self.metrics.rejected(consumer, unit)
        return Admission(
            None,
            Rejection(
                429,
                f"consumer {consumer.name} is over its rate limit of {limit} {unit}",
                "rate_limit_error",
                "rate_limit_exceeded",
                retry_after=max(1, 60 - int(now % 60)),
            ),
        )

    async def charge(
        self,
        policy: Policy,
        consumer_name: str | None,
        model: ModelInfo | None,
        usage: Mapping[str, Any] | None,
        input_tokens: int,
        output_tokens: int,
        arrived: float,
        shadow: bool = False,
        extra_cost: float = 0.0,
    ) -> None:
        """``model``'s answer at its list prices, plus ``extra_cost``: the request's other
        calls (intent classifier, a cascade's rejected answers and judge), already priced."""
        consumer = policy.consumers.get(consumer_name) if consumer_name else None
        if consumer is None or not (consumer.budgets or consumer.tpm):
            return
        cost = extra_cost
        if model is not None:
            cost += charge_cost(
                model.price_input,
                model.price_output,
                model.price_cached_input,
                input_tokens,
                output_tokens,
                cached_tokens(usage),
            )
        add: dict[str, tuple[float, int]] = {}
        for budget in consumer.budgets:
            bucket = window(budget, arrived).charge
            if shadow and not budget.charge_shadows:
                bucket = shadow_line(bucket)
            add[bucket] = (cost, _ttl(budget))
            self._pending[bucket] = self._pending.get(bucket, 0.0) + cost
        if consumer.tpm and not shadow:
            add[_rate_keys(consumer.name, arrived)[1]] = (
                float(input_tokens + output_tokens),
                RATE_TTL_S,
            )
        if consumer.budgets:
            self.metrics.spend(consumer, "shadow" if shadow else "consumer", cost)
        try:
            await self.counters.exchange(add, ())
        except CountersUnavailable as exc:
            self._error(exc)

    # ------------------------------------------------------------------ models and providers

    async def admit_model(
        self, policy: Policy, model: str, tokens: int, arrived: float
    ) -> str | None:
        """Count one attempt of ``tokens`` to ``model``; None if admitted, else which limit."""
        scopes = _model_scopes(policy, model)
        if not scopes:
            return None
        minute = int(arrived // 60)
        add: dict[str, tuple[float, int]] = {}
        checks: list[tuple[str, str, str, int]] = []  # key, scope, name, limit
        for scope, name, rpm, tpm in scopes:
            req_key, tok_key = _window_keys(scope, name, minute)
            if rpm is not None:
                add[req_key] = (1.0, RATE_TTL_S)
                checks.append((req_key, scope, name, rpm))
            if tpm is not None:
                add[tok_key] = (float(tokens), RATE_TTL_S)
                checks.append((tok_key, scope, name, tpm))
        keys = [check[0] for check in checks]
        try:
            values = await self.counters.exchange(add, keys)
        except CountersUnavailable as exc:
            self._error(exc)
            return None
        for value, (key, scope, name, limit) in zip(values, checks, strict=True):
            if value > limit:
                undo = {k: (-amount, ttl) for k, (amount, ttl) in add.items()}
                try:
                    await self.counters.exchange(undo, ())
                except CountersUnavailable as exc:
                    self._error(exc)
                unit = "requests" if key.endswith(":req") else "tokens"
                return f"rate limited: {scope} {name} is at its {limit} {unit} per minute"
        return None

    def settle_model(self, policy: Policy, model: str, delta_tokens: int, arrived: float) -> None:
        """Correct the tokens counted for ``model`` at ``arrived`` by ``delta_tokens`` (beside
        the next requests, like a charge)."""
        if not delta_tokens:
            return
        minute = int(arrived // 60)
        add = {
            _window_keys(scope, name, minute)[1]: (float(delta_tokens), RATE_TTL_S)
            for scope, name, _rpm, tpm in _model_scopes(policy, model)
            if tpm is not None
        }
        if add:
            self.charge_soon(self._add_quietly(add))

    async def _add_quietly(self, add: Mapping[str, tuple[float, int]]) -> None:
        try:
            await self.counters.exchange(add, ())
        except CountersUnavailable as exc:
            self._error(exc)

    # ------------------------------------------------------------------ admin API

    async def spend_report(self, policy: Policy, now: float | None = None) -> dict[str, Any]:
        """Current spend of every budget (consumers and teams), for ``GET /admin/v1/spend``."""
        now = time.time() if now is None else now
        budgets = sorted(policy.budgets.values(), key=lambda b: b.key)
        reads: list[str] = []
        for budget in budgets:
            reads.extend(window(budget, now).read)
            reads.extend(shadow_line(k) for k in window(budget, now).read)
        values = await self.counters.exchange({}, reads)
        at = 0
        rows = []
        for budget in budgets:
            span = len(window(budget, now).read)
            spent = sum(values[at : at + span])
            shadow = sum(values[at + span : at + 2 * span])
            at += 2 * span
            state = budget_state([budget], {budget.key: spent})
            rows.append(
                {
                    "budget": budget.key,
                    "kind": budget.owner_kind,
                    "name": budget.owner,
                    "amountUsd": budget.amount_usd,
                    "period": budget.period,
                    "timeZone": budget.time_zone,
                    "rolling": budget.rolling,
                    "bucket": window(budget, now).charge,
                    "spentUsd": round(spent, 10),
                    "shadowUsd": round(shadow, 10),
                    "used": round(spent / budget.amount_usd, 6),
                    "action": state.action,
                    "members": sorted(
                        c.name for c in policy.consumers.values() if budget in c.budgets
                    ),
                }
            )
        return {"counters": self.counters.name, "budgets": rows}


def cached_tokens(usage: Mapping[str, Any] | None) -> int:
    """OpenAI's ``usage.prompt_tokens_details.cached_tokens`` (0 when absent)."""
    if not usage:
        return 0
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        value = details.get("cached_tokens")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0
