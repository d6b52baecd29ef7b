"""Prometheus metrics of one gateway (``GET /metrics``).

Labels take only configured names (route, model, provider), a status class and
fixed reason words; nothing from a request (ids, consumers' free text, paths)
becomes a label, so cardinality is bounded by the size of the configuration.
Each app has its own registry, so several gateways can live in one process.

The per-answer series (requests, tokens, cost, latency) are plain numbers
kept per label set and turned into metric families only when scraped:
prometheus_client's own counters take a lock and validate on every increment,
five times per answer, which was the largest share of routectl's own work per
request. Answers and scrapes both run on the event loop, so nothing races.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from routectl.core.policy import ConsumerInfo
from routectl.gateway.runtime import Upstream

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
ROUTE_MODEL_PROVIDER = ["route", "model", "provider"]


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Totals:
    """Everything answered for one (route, model, provider)."""

    __slots__ = ("by_status", "tokens_in", "tokens_out", "cost", "buckets", "seconds")

    def __init__(self) -> None:
        self.by_status: dict[str, int] = {}
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.seconds = 0.0


class AnswerCollector:
    """Serves the accumulated :class:`Totals` as Prometheus metric families."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str, str], Totals] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "routectl_gateway_requests",
            "Requests answered, by where they went and status class.",
            labels=[*ROUTE_MODEL_PROVIDER, "status"],
        )
        tokens = CounterMetricFamily(
            "routectl_gateway_tokens",
            "Tokens, input and output (upstream usage when given).",
            labels=[*ROUTE_MODEL_PROVIDER, "direction"],
        )
        cost = CounterMetricFamily(
            "routectl_gateway_cost_usd",
            "Cost in USD from the models' list prices.",
            labels=ROUTE_MODEL_PROVIDER,
        )
        latency = HistogramMetricFamily(
            "routectl_gateway_request_duration_seconds",
            "Time from request to full answer.",
            labels=ROUTE_MODEL_PROVIDER,
        )
        for labels, totals in self.totals.items():
            for status, count in totals.by_status.items():
                requests.add_metric([*labels, status], count)
            tokens.add_metric([*labels, "input"], totals.tokens_in)
            tokens.add_metric([*labels, "output"], totals.tokens_out)
            cost.add_metric(list(labels), totals.cost)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), totals.buckets, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric(list(labels), buckets, totals.seconds)
        yield from (requests, tokens, cost, latency)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.answers = AnswerCollector()
        r.register(self.answers)
        self.failovers = Counter(
            "routectl_gateway_failovers",
            "Moves down a fallback chain, by the model that failed.",
            [*ROUTE_MODEL_PROVIDER, "reason"],
            registry=r,
        )
        self.shadows = Counter(
            "routectl_gateway_shadow_requests",
            "Shadow copies by outcome (ok, failed, dropped).",
            ["model", "provider", "outcome"],
            registry=r,
        )
        self.revision = Gauge(
            "routectl_gateway_config_revision", "Configuration revision being served.", registry=r
        )
        # Budgets and consumer limits: labels are configured consumer, team and budget names.
        self.spend_usd = Counter(
            "routectl_gateway_spend_usd",
            "USD charged to budgets at list prices, by consumer, team and line "
            "(consumer, or shadow for shadow copies not charged to the budget).",
            ["consumer", "team", "line"],
            registry=r,
        )
        self.budget_used = Gauge(
            "routectl_gateway_budget_used_ratio",
            "Share of each budget spent in its current period (1 = 100%), as last seen.",
            ["budget"],
            registry=r,
        )
        self.budget_alerts = Counter(
            "routectl_gateway_budget_alerts",
            "Alert thresholds reached, once per budget, threshold and period.",
            ["budget", "threshold"],
            registry=r,
        )
        self.downgrades = Counter(
            "routectl_gateway_budget_downgrades",
            "Requests routed by a budget's downgrade threshold.",
            ["consumer", "team", "budget"],
            registry=r,
        )
        self.limit_rejections = Counter(
            "routectl_gateway_limit_rejections",
            "Requests refused by a budget (budget_exceeded), a consumer rate limit (rpm, tpm) "
            "or unavailable counters (limits_unavailable).",
            ["consumer", "team", "reason"],
            registry=r,
        )
        self.counter_errors = Counter(
            "routectl_gateway_counter_errors",
            "Counter store (Redis) calls that failed.",
            registry=r,
        )

    def answered(
        self,
        route: str,
        model: str,
        provider: str,
        status: int,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
        cost: float,
    ) -> None:
        labels = (route, model, provider)
        totals = self.answers.totals.get(labels)
        if totals is None:
            totals = self.answers.totals[labels] = Totals()
        by_status = totals.by_status
        status_label = status_class(status)
        by_status[status_label] = by_status.get(status_label, 0) + 1
        totals.tokens_in += input_tokens
        totals.tokens_out += output_tokens
        totals.cost += cost
        totals.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # bounds are inclusive
        totals.seconds += seconds

    def failover(self, route: str, upstream: Upstream, reason: str) -> None:
        self.failovers.labels(route, upstream.model, upstream.provider, reason).inc()

    def shadow(self, upstream: Upstream, outcome: str) -> None:
        self.shadows.labels(upstream.model, upstream.provider, outcome).inc()

    def rejected(self, consumer: ConsumerInfo, reason: str) -> None:
        self.limit_rejections.labels(consumer.name, consumer.team or "", reason).inc()

    def spend(self, consumer: ConsumerInfo, line: str, usd: float) -> None:
        self.spend_usd.labels(consumer.name, consumer.team or "", line).inc(usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
