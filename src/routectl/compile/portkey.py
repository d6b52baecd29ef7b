"""Portkey gateway: one config JSON, sent with each request in ``x-portkey-config``.

Lowering:
- a ``conditional`` strategy picks the lane from request metadata
  (``x-portkey-metadata: {"intent": ..., "classification": ...}``): one
  condition per lane and classification, intents as ``$in``; a missing or
  unknown classification matches ``$nin`` of the known ones (the strictest
  lane, as the core does). No condition and no default: Portkey refuses the
  request without calling an upstream;
- a lane is a ``fallback`` target over its chain (``on_status_codes`` from the
  triggers), or a ``loadbalance`` of such fallbacks weighted by arm shares;
- a model is an ``openai`` target at the provider's base URL
  (``custom_host``) with ``override_params.model`` set to the upstream id;
  ``api_key`` is ``${ENV_NAME}``, expanded by the caller that sends the config
  (a Portkey config travels with the request, so it holds no secret).

Portkey ignores fields it does not know; :data:`CONFIG_SCHEMA` is the subset
routectl emits, closed, and every compiled config is validated against it.
"""

from __future__ import annotations

import json
from typing import Any

from routectl.compile.base import Lane, Lowering, approximate, exact, unsupported
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

STATUS_CODES = {
    FallbackTrigger.rate_limited: [429],
    FallbackTrigger.server_error: [500, 502, 503, 504],
    FallbackTrigger.timeout: [408, 504],
    FallbackTrigger.connection_error: [502, 503],
}

_TARGET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "provider": {"enum": ["openai"]},
        "custom_host": {"type": "string", "pattern": "^https?://"},
        "api_key": {"type": "string"},
        "weight": {"type": "number", "minimum": 0},
        "request_timeout": {"type": "integer", "minimum": 1},
        "override_params": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"model": {"type": "string"}},
        },
        "strategy": {"$ref": "#/$defs/strategy"},
        "targets": {"type": "array", "items": {"$ref": "#/$defs/target"}, "minItems": 1},
    },
}
# The closed subset of Portkey's config schema that routectl emits.
CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "target": _TARGET,
        "strategy": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode"],
            "properties": {
                "mode": {"enum": ["single", "loadbalance", "fallback", "conditional"]},
                "on_status_codes": {"type": "array", "items": {"type": "integer"}},
                "conditions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["query", "then"],
                        "properties": {"query": {"type": "object"}, "then": {"type": "string"}},
                    },
                },
                "default": {"type": "string"},
            },
        },
    },
    "type": "object",
    "additionalProperties": False,
    "required": ["strategy", "targets"],
    "properties": {
        "//": {"type": "string"},
        "strategy": {"$ref": "#/$defs/strategy"},
        "targets": {"type": "array", "items": {"$ref": "#/$defs/target"}},
    },
}


class Portkey(Target):
    name = "portkey"
    title = "Portkey gateway"
    features = {
        "match.intents": exact("conditional strategy on metadata.intent"),
        "match.classifications": exact("conditional strategy on metadata.classification"),
        "match.languages": unsupported("conditions are compiled on intent and classification"),
        "match.consumers": unsupported("Portkey's open-source gateway has no consumers"),
        "match.teams": unsupported("Portkey's open-source gateway has no teams"),
        "match.metadata": unsupported("conditions are compiled on intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("callers send the intent in metadata; else the default"),
        "fallback.chain": exact("fallback targets, per arm"),
        "fallback.on.subset": exact("on_status_codes lists only the named triggers"),
        "stickyBy.consumer": approximate("loadbalance draws per request"),
        "stickyBy.session": approximate("loadbalance draws per request"),
        "shadows": unsupported("Portkey has no shadow traffic"),
        "experiment.live": exact("one more weighted target"),
        "experiment.shadow": unsupported("Portkey has no shadow traffic"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("not compiled; Portkey's gateway has no consumers"),
        "consumer.budget": unsupported("Portkey's open-source gateway has no budgets"),
        "team.budget": unsupported("Portkey's open-source gateway has no budgets"),
        "consumer.rateLimits": unsupported("not compiled"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": unsupported("Portkey's open-source gateway has no rate limits"),
        "provider.timeout": exact("request_timeout per target"),
        "provider.credentials.file": approximate("api_key is expanded by the caller"),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=exact("loadbalance with weights"),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact("on_status_codes 429"),
                FallbackTrigger.server_error: approximate("on_status_codes 500, 502, 503, 504"),
                FallbackTrigger.timeout: approximate("request_timeout answers 408"),
                FallbackTrigger.connection_error: approximate("Portkey answers 502/503 for these"),
                FallbackTrigger.context_length: unsupported("Portkey cannot tell this error"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        config = build_config(lowering, header)
        return {"portkey-config.json": json.dumps(config, indent=2, sort_keys=False) + "\n"}


def build_config(lowering: Lowering, header: Header | None = None) -> dict[str, Any]:
    policy = lowering.policy
    known_intents = sorted(policy.intents)
    known_classes = sorted(policy.classifications)
    # (lane, classification) -> intents (None: a missing or unknown intent)
    groups: dict[tuple[str, str | None], list[str | None]] = {}
    for selector in lowering.selectors:
        if selector.lane is not None:
            groups.setdefault((selector.lane, selector.classification), []).append(selector.intent)
    conditions = []
    for (lane, classification), intents in groups.items():
        parts: list[dict[str, Any]] = [
            {"metadata.classification": {"$eq": classification}}
            if classification is not None
            else {"metadata.classification": {"$nin": known_classes}}
        ]
        named = [i for i in intents if i is not None]
        if None in intents:
            others = [i for i in known_intents if i not in named]
            if others:
                parts.append({"metadata.intent": {"$nin": others}})
        else:
            parts.append({"metadata.intent": {"$in": named}})
        conditions.append({"query": {"$and": parts}, "then": lane})
    config: dict[str, Any] = {}
    if header is not None:
        config["//"] = " | ".join(header.lines())
    config["strategy"] = {"mode": "conditional", "conditions": conditions}
    config["targets"] = [_lane(lowering, lane) for lane in lowering.lanes.values()]
    return config


def _lane(lowering: Lowering, lane: Lane) -> dict[str, Any]:
    codes = sorted({code for t in lane.triggers for code in STATUS_CODES.get(t, [])})
    arms = [_chain(lowering, arm.chain, codes) for arm in lane.arms]
    if len(arms) == 1:
        return {**arms[0], "name": lane.name}
    for arm, info in zip(arms, lane.arms, strict=True):
        arm["weight"] = round(info.fraction, 6)
    return {"name": lane.name, "strategy": {"mode": "loadbalance"}, "targets": arms}


def _chain(lowering: Lowering, chain: tuple[str, ...], codes: list[int]) -> dict[str, Any]:
    targets = [_model(lowering, name) for name in chain]
    if len(targets) == 1:
        return targets[0]
    return {"strategy": {"mode": "fallback", "on_status_codes": codes}, "targets": targets}


def _model(lowering: Lowering, name: str) -> dict[str, Any]:
    model, provider = model_and_provider(lowering.policy, name)
    return {
        "name": name,
        "provider": "openai",
        "custom_host": provider.base_url.rstrip("/"),
        "api_key": "${" + provider_env(provider) + "}",
        "request_timeout": int(provider.timeout_seconds * 1000),
        "override_params": {"model": model.upstream_model},
    }
