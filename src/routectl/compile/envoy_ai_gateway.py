"""Envoy AI Gateway (``aigateway.envoyproxy.io/v1beta1``): Kubernetes manifests.

Lowering: one AIGatewayRoute whose rules match the ``x-routectl-intent`` and
``x-routectl-classification`` headers (Gateway API gives the rule matching more
headers precedence, so an unknown or missing value falls to the selector that
leaves it out). A rule's backendRefs are the lane: arms share priority 0 with
their weights, the chain follows at priorities 1, 2, …, each backendRef naming
the model's AIServiceBackend with ``modelNameOverride`` set to the upstream id.
Per provider: an Envoy Gateway Backend, an AIServiceBackend per model and a
BackendSecurityPolicy (API key from a Secret named after the key's variable).
One BackendTrafficPolicy retries on the triggers so Envoy walks the priorities.

Envoy AI Gateway cannot run here: tests validate the aigateway.envoyproxy.io
documents against the CRDs' openAPIV3Schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from routectl.compile.base import (
    CLASSIFICATION_HEADER,
    INTENT_HEADER,
    Lowering,
    approximate,
    by_specificity,
    exact,
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

API = "aigateway.envoyproxy.io/v1beta1"
MAX_RULES = 15  # AIGatewayRoute spec.rules maxItems


def k8s_name(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return out[:63].rstrip("-")


class EnvoyAIGateway(Target):
    name = "envoy-ai-gateway"
    title = "Envoy AI Gateway"
    features = {
        "match.intents": exact("rule header match, most specific first"),
        "match.classifications": exact("rule header match, most specific first"),
        "match.languages": unsupported("rules are compiled on intent and classification"),
        "match.consumers": unsupported("not compiled"),
        "match.teams": unsupported("not compiled"),
        "match.metadata": unsupported("rules are compiled on intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("callers send x-routectl-intent; else the default intent"),
        "fallback.chain": exact("backendRef priorities"),
        "fallback.on.subset": approximate("one retry policy for every rule"),
        "stickyBy.consumer": approximate("weights drawn per request"),
        "stickyBy.session": approximate("weights drawn per request"),
        "shadows": unsupported("not compiled"),
        "experiment.live": approximate("one more weighted backendRef (see strategy.weighted)"),
        "experiment.shadow": unsupported("not compiled"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("not compiled"),
        "consumer.budget": unsupported("not compiled; QuotaPolicy counts tokens, not USD"),
        "team.budget": unsupported("not compiled; QuotaPolicy counts tokens, not USD"),
        "consumer.rateLimits": unsupported("not compiled"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": approximate("not compiled"),
        "provider.timeout": exact("rule timeouts.request, the longest of the chain"),
        "provider.credentials.file": approximate("keys come from Kubernetes Secrets"),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=approximate(
                "arms share priority 0; a failed arm falls to the chain before the other arm"
            ),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact("BackendTrafficPolicy retry on 429"),
                FallbackTrigger.server_error: exact("BackendTrafficPolicy retry on 5xx"),
                FallbackTrigger.timeout: exact("BackendTrafficPolicy per-retry timeout"),
                FallbackTrigger.connection_error: exact("connect-failure, reset"),
                FallbackTrigger.context_length: unsupported("Envoy cannot tell this error"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        policy = lowering.policy
        rules = []
        unroutable = False
        triggers: set[str] = set()
        for _, selector in by_specificity(lowering.selectors):
            if selector.lane is None:
                # A less specific rule would catch it: send it where nothing listens.
                unroutable = True
                rules.append(
                    {
                        "name": k8s_name(
                            f"{selector.intent or 'any'}-{selector.classification or 'any'}"
                        ),
                        "backendRefs": [{"name": UNROUTABLE, "priority": 0, "weight": 1}],
                        "matches": [{"headers": _headers(selector)}]
                        if _headers(selector)
                        else [{}],
                    }
                )
                continue
            lane = lowering.lanes[selector.lane]
            triggers |= lane.triggers
            headers = []
            if selector.intent is not None:
                headers.append({"type": "Exact", "name": INTENT_HEADER, "value": selector.intent})
            if selector.classification is not None:
                headers.append(
                    {
                        "type": "Exact",
                        "name": CLASSIFICATION_HEADER,
                        "value": selector.classification,
                    }
                )
            refs = []
            seen = set()
            for arm in lane.arms:
                refs.append(_ref(lowering, arm.primary, 0, max(1, round(arm.fraction * 100))))
                seen.add(arm.primary)
            priority = 1
            for arm in lane.arms[:1]:
                for model in arm.chain[1:]:
                    if model not in seen:
                        refs.append(_ref(lowering, model, priority, 1))
                        seen.add(model)
                        priority += 1
            timeout = max(model_and_provider(policy, m)[1].timeout_seconds for m in lane.models)
            rule: dict[str, Any] = {
                "name": k8s_name(f"{selector.intent or 'any'}-{selector.classification or 'any'}"),
                "backendRefs": refs,
                "timeouts": {"request": f"{int(timeout * len(lane.models))}s"},
            }
            rule["matches"] = [{"headers": headers}] if headers else [{}]
            rules.append(rule)
        # The CRD allows 15 rules a route; precedence between routes is by match
        # specificity as within one, so the rules are split in their order.
        chunks = [rules[i : i + MAX_RULES] for i in range(0, len(rules), MAX_RULES)]
        route_names = [f"routectl-{i}" for i in range(len(chunks))]
        documents: list[dict[str, Any]] = [
            {
                "apiVersion": API,
                "kind": "AIGatewayRoute",
                "metadata": {"name": name},
                "spec": {
                    "parentRefs": [
                        {
                            "name": "routectl",
                            "kind": "Gateway",
                            "group": "gateway.networking.k8s.io",
                        }
                    ],
                    "rules": chunk,
                },
            }
            for name, chunk in zip(route_names, chunks, strict=True)
        ]
        providers = sorted({policy.models[m].provider for m in lowering.models})
        for name in lowering.models:
            documents.append(
                {
                    "apiVersion": API,
                    "kind": "AIServiceBackend",
                    "metadata": {"name": k8s_name(f"model-{name}")},
                    "spec": {
                        "schema": {"name": "OpenAI", "prefix": _prefix(policy, name)},
                        "backendRef": {
                            "name": k8s_name(f"provider-{policy.models[name].provider}"),
                            "kind": "Backend",
                            "group": "gateway.envoyproxy.io",
                        },
                    },
                }
            )
        if unroutable:
            documents += _unroutable_backend()
        for provider_name in providers:
            provider = policy.providers[provider_name]
            url = urlsplit(provider.base_url)
            documents.append(
                {
                    "apiVersion": "gateway.envoyproxy.io/v1alpha1",
                    "kind": "Backend",
                    "metadata": {"name": k8s_name(f"provider-{provider_name}")},
                    "spec": {
                        "endpoints": [
                            {
                                "fqdn": {
                                    "hostname": url.hostname,
                                    "port": url.port or (443 if url.scheme == "https" else 80),
                                }
                            }
                        ]
                    },
                }
            )
            documents.append(
                {
                    "apiVersion": API,
                    "kind": "BackendSecurityPolicy",
                    "metadata": {"name": k8s_name(f"key-{provider_name}")},
                    "spec": {
                        "type": "APIKey",
                        "apiKey": {"secretRef": {"name": k8s_name(provider_env(provider))}},
                        "targetRefs": [
                            {
                                "group": "aigateway.envoyproxy.io",
                                "kind": "AIServiceBackend",
                                "name": k8s_name(f"model-{m}"),
                            }
                            for m in lowering.models
                            if policy.models[m].provider == provider_name
                        ],
                    },
                }
            )
        longest = max(len(lane.models) for lane in lowering.lanes.values())
        documents.append(_retry_policy(triggers, longest, route_names))
        text = header.comment() + yaml.safe_dump_all(documents, sort_keys=False, width=100)
        return {"envoy-ai-gateway.yaml": text}


UNROUTABLE = "routectl-unroutable"


def _headers(selector) -> list[dict[str, str]]:
    headers = []
    if selector.intent is not None:
        headers.append({"type": "Exact", "name": INTENT_HEADER, "value": selector.intent})
    if selector.classification is not None:
        headers.append(
            {"type": "Exact", "name": CLASSIFICATION_HEADER, "value": selector.classification}
        )
    return headers


def _unroutable_backend() -> list[dict[str, Any]]:
    """Where unroutable requests go: a backend on a closed loopback port (no upstream sees
    them; the gateway answers 503). Envoy AI Gateway has no direct response for a rule."""
    return [
        {
            "apiVersion": API,
            "kind": "AIServiceBackend",
            "metadata": {"name": UNROUTABLE},
            "spec": {
                "schema": {"name": "OpenAI"},
                "backendRef": {
                    "name": UNROUTABLE,
                    "kind": "Backend",
                    "group": "gateway.envoyproxy.io",
                },
            },
        },
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "Backend",
            "metadata": {"name": UNROUTABLE},
            "spec": {"endpoints": [{"ip": {"address": "127.0.0.1", "port": 9}}]},
        },
    ]


def _prefix(policy, name: str) -> str:
    path = urlsplit(policy.providers[policy.models[name].provider].base_url).path.rstrip("/")
    return path or "/"


def _ref(lowering: Lowering, model: str, priority: int, weight: int) -> dict[str, Any]:
    return {
        "name": k8s_name(f"model-{model}"),
        "modelNameOverride": lowering.policy.models[model].upstream_model,
        "priority": priority,
        "weight": weight,
    }


def _retry_policy(triggers: set[str], attempts: int, routes: list[str]) -> dict[str, Any]:
    on: dict[str, Any] = {"triggers": []}
    codes = []
    if FallbackTrigger.server_error in triggers:
        on["triggers"].append("5xx")
    if FallbackTrigger.connection_error in triggers:
        on["triggers"] += ["connect-failure", "reset"]
    if FallbackTrigger.rate_limited in triggers:
        on["triggers"].append("retriable-status-codes")
        codes.append(429)
    if codes:
        on["httpStatusCodes"] = codes
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": "routectl-failover"},
        "spec": {
            # Envoy AI Gateway makes an HTTPRoute of the same name for each AIGatewayRoute.
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": name}
                for name in routes
            ],
            "retry": {"numRetries": max(0, attempts - 1), "retryOn": on},
        },
    }
