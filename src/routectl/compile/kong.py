"""Kong AI Gateway: a decK file (``kong.yaml``, ``_format_version: "3.0"``).

Lowering: one service and one route per (intent, classification) selector,
matching ``x-routectl-intent``/``x-routectl-classification`` headers (Kong's
router prefers the route matching more headers, so an unknown or missing value
falls to the selector that leaves it out). Each route carries an
``ai-proxy-advanced`` plugin (Kong Enterprise): a single-arm lane is a
``priority`` balancer over its chain (the primary has the highest weight) with
``failover_criteria`` from the triggers; a weighted lane is a ``round-robin``
balancer over its arms. Unroutable selectors get ``request-termination`` 400.

Kong cannot run here: tests validate the file against decK's JSON Schema and
each plugin ``config`` against :data:`AI_PROXY_ADVANCED_FIELDS`.
"""

from __future__ import annotations

from typing import Any

import yaml

from routectl.compile.base import (
    CLASSIFICATION_HEADER,
    INTENT_HEADER,
    Lane,
    Lowering,
    approximate,
    by_specificity,
    exact,
    short_hash,
    unsupported,
)
from routectl.compile.target import (
    Header,
    Target,
    filter_levels,
    model_and_provider,
    provider_env,
    strategy_levels,
    trigger_levels,
)
from routectl.core.failover import FallbackTrigger

FAILOVER = {
    FallbackTrigger.rate_limited: ["http_429"],
    FallbackTrigger.server_error: ["http_500", "http_502", "http_503", "http_504"],
    FallbackTrigger.timeout: ["timeout"],
    FallbackTrigger.connection_error: ["error"],
}
# The ai-proxy-advanced config fields routectl emits (from Kong's plugin schema), closed.
AI_PROXY_ADVANCED_FIELDS: dict[str, Any] = {
    "balancer": {"algorithm", "failover_criteria", "retries", "connect_timeout", "read_timeout"},
    "targets": {
        "route_type": None,
        "weight": None,
        "description": None,
        "auth": {"header_name", "header_value"},
        "model": {"provider": None, "name": None, "options": {"upstream_url"}},
    },
}


class Kong(Target):
    name = "kong"
    title = "Kong AI Gateway (decK)"
    features = {
        "match.intents": exact("route header match, most specific first"),
        "match.classifications": exact("route header match, most specific first"),
        "match.languages": unsupported("routes are compiled on intent and classification"),
        "match.consumers": unsupported("not compiled"),
        "match.teams": unsupported("not compiled"),
        "match.metadata": unsupported("routes are compiled on intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("callers send x-routectl-intent; else the default intent"),
        "fallback.chain": exact("priority balancer over the chain"),
        "fallback.on.subset": exact("failover_criteria lists only the named triggers"),
        "stickyBy.consumer": approximate("round-robin, not sticky"),
        "stickyBy.session": approximate("round-robin, not sticky"),
        "shadows": unsupported("not compiled"),
        "experiment.live": approximate("one more round-robin arm (see strategy.weighted)"),
        "experiment.shadow": unsupported("not compiled"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("not compiled; use Kong consumers and ACLs"),
        "consumer.budget": unsupported("not compiled"),
        "team.budget": unsupported("not compiled"),
        "consumer.rateLimits": unsupported("not compiled"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": approximate("not compiled; use Kong's ai-rate-limiting-advanced"),
        "provider.timeout": exact("balancer read_timeout"),
        "provider.credentials.file": approximate("keys from the environment vault"),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=approximate(
                "round-robin over the arms; failover stays among the arms, the chain is not reached"
            ),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact("failover_criteria http_429"),
                FallbackTrigger.server_error: approximate("http_500, 502, 503, 504"),
                FallbackTrigger.timeout: exact("failover_criteria timeout"),
                FallbackTrigger.connection_error: exact("failover_criteria error"),
                FallbackTrigger.context_length: unsupported("Kong cannot tell this error"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        services = []
        for _, selector in by_specificity(lowering.selectors):
            headers: dict[str, list[str]] = {}
            if selector.intent is not None:
                headers[INTENT_HEADER] = [selector.intent]
            if selector.classification is not None:
                headers[CLASSIFICATION_HEADER] = [selector.classification]
            key = f"{selector.intent or '*'}|{selector.classification or '*'}"
            name = f"routectl-{short_hash(key)}"
            route: dict[str, Any] = {
                "name": name,
                "paths": ["/v1/chat/completions"],
                "methods": ["POST"],
                "tags": ["routectl", f"selector:{key}"],
            }
            if headers:
                route["headers"] = headers
            if selector.lane is None:
                plugin = {
                    "name": "request-termination",
                    "config": {"status_code": 400, "message": f"unroutable: {selector.reason}"},
                }
            else:
                plugin = _ai_proxy(lowering, lowering.lanes[selector.lane])
                route["tags"].append(f"lane:{selector.lane}")
            route["plugins"] = [plugin]
            services.append(
                {
                    "name": name,
                    # ai-proxy-advanced sends to its targets; the service URL is never used.
                    "url": "http://localhost:65535",
                    "routes": [route],
                }
            )
        document = {"_format_version": "3.0", "services": services}
        return {
            "kong.yaml": header.comment() + yaml.safe_dump(document, sort_keys=False, width=100)
        }


def _ai_proxy(lowering: Lowering, lane: Lane) -> dict[str, Any]:
    policy = lowering.policy
    if len(lane.arms) == 1:
        chain = lane.arms[0].chain
        targets = [_target(lowering, m, len(chain) - i) for i, m in enumerate(chain)]
        algorithm = "priority"
    else:
        targets = [
            _target(lowering, arm.primary, max(1, round(arm.fraction * 100))) for arm in lane.arms
        ]
        algorithm = "round-robin"
    criteria = sorted({c for t in lane.triggers for c in FAILOVER.get(t, [])})
    timeout = max(model_and_provider(policy, m)[1].timeout_seconds for m in lane.models)
    return {
        "name": "ai-proxy-advanced",
        "instance_name": f"lane-{short_hash(lane.name)}",
        "config": {
            "balancer": {
                "algorithm": algorithm,
                "failover_criteria": criteria,
                "retries": max(0, len(targets) - 1),
                "read_timeout": int(timeout * 1000),
            },
            "targets": targets,
        },
    }


def _target(lowering: Lowering, name: str, weight: int) -> dict[str, Any]:
    model, provider = model_and_provider(lowering.policy, name)
    return {
        "route_type": "llm/v1/chat",
        "weight": weight,
        "description": name,
        "auth": {
            "header_name": "Authorization",
            "header_value": "Bearer {vault://env/"
            + provider_env(provider).lower().replace("_", "-")
            + "}",
        },
        "model": {
            "provider": "openai",
            "name": model.upstream_model,
            "options": {"upstream_url": provider.base_url.rstrip("/") + "/chat/completions"},
        },
    }
