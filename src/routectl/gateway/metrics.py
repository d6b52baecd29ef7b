"""Prometheus metrics of one gateway (``GET /metrics``).

Labels take only configured names (route, model, provider), a status class and
fixed reason words; nothing from a request (ids, consumers' free text, paths)
becomes a label, so cardinality is bounded by the size of the configuration.
Each app has its own registry, so several gateways can live in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from routectl.gateway.runtime import Upstream

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
ROUTE_MODEL_PROVIDER = ["route", "model", "provider"]


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "routectl_gateway_requests",
            "Requests answered, by where they went and status class.",
            [*ROUTE_MODEL_PROVIDER, "status"],
            registry=r,
        )
        self.tokens = Counter(
            "routectl_gateway_tokens",
            "Tokens, input and output (upstream usage when given).",
            [*ROUTE_MODEL_PROVIDER, "direction"],
            registry=r,
        )
        self.cost = Counter(
            "routectl_gateway_cost_usd",
            "Cost in USD from the models' list prices.",
            ROUTE_MODEL_PROVIDER,
            registry=r,
        )
        self.latency = Histogram(
            "routectl_gateway_request_duration_seconds",
            "Time from request to full answer.",
            ROUTE_MODEL_PROVIDER,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
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
        # labels() takes a lock and builds a key; the hot path reuses its children.
        self._children: dict[tuple, tuple] = {}

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
        key = (route, model, provider, status_class(status))
        children = self._children.get(key)
        if children is None:
            labels = (route, model, provider)
            children = (
                self.requests.labels(*key),
                self.tokens.labels(*labels, "input"),
                self.tokens.labels(*labels, "output"),
                self.cost.labels(*labels),
                self.latency.labels(*labels),
            )
            self._children[key] = children
        requests, tokens_in, tokens_out, cost_counter, latency = children
        requests.inc()
        if input_tokens:
            tokens_in.inc(input_tokens)
        if output_tokens:
            tokens_out.inc(output_tokens)
        if cost:
            cost_counter.inc(cost)
        latency.observe(seconds)

    def failover(self, route: str, upstream: Upstream, reason: str) -> None:
        self.failovers.labels(route, upstream.model, upstream.provider, reason).inc()

    def shadow(self, upstream: Upstream, outcome: str) -> None:
        self.shadows.labels(upstream.model, upstream.provider, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
