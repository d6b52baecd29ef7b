"""TensorZero: ``tensorzero.toml`` plus ``routectl-lanes.json`` for the caller.

Lowering:
- a lane is a chat function (``routectl.<lane>``); each arm is a
  ``chat_completion`` variant whose model's ``routing`` is the arm's chain, so
  TensorZero walks the fallback chain provider by provider;
- weighted arms (and a live experiment) are ``static`` experimentation weights
  on the function's candidate variants;
- every provider is ``openai`` at the provider's base URL with the key read
  from the environment (``api_key_location = "env::NAME"``);
- observability is off, so the embedded gateway needs no database.

TensorZero selects by function name, not by request metadata: the caller
looks its (intent, classification) up in ``routectl-lanes.json`` (the same
selector table every target compiles) and calls that function.
"""

from __future__ import annotations

import json
from typing import Any

from routectl.compile.base import Lowering, approximate, exact, unsupported
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


def function_name(lane: str) -> str:
    return f"routectl.{lane}"


def arm_model(lane: str, index: int) -> str:
    return f"routectl.{lane}.arm{index}"


def _toml_key(key: str) -> str:
    return json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(type(value))


def _table(path: list[str], values: dict[str, Any]) -> str:
    head = "[" + ".".join(_toml_key(p) for p in path) + "]\n"
    return head + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()) + "\n"


class TensorZero(Target):
    name = "tensorzero"
    title = "TensorZero"
    features = {
        "match.intents": approximate("the caller picks the function from routectl-lanes.json"),
        "match.classifications": approximate(
            "the caller picks the function from routectl-lanes.json"
        ),
        "match.languages": unsupported("functions are compiled per intent and classification"),
        "match.consumers": unsupported("TensorZero has no routectl consumers"),
        "match.teams": unsupported("TensorZero has no routectl teams"),
        "match.metadata": unsupported("functions are compiled per intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("the caller names the intent; else the default intent"),
        "fallback.chain": approximate(
            "model routing, provider by provider; TensorZero also fails over on 4xx answers"
        ),
        "fallback.on.subset": approximate("TensorZero fails over on every provider error"),
        "stickyBy.consumer": approximate("variants are sticky by episode, not consumer"),
        "stickyBy.session": approximate("sticky by episode: send the session as episode_id"),
        "shadows": unsupported("TensorZero has no shadow traffic"),
        "experiment.live": exact("one more weighted variant"),
        "experiment.shadow": unsupported("TensorZero has no shadow traffic"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("not compiled; TensorZero has no routectl consumers"),
        "consumer.budget": unsupported("TensorZero has no budgets"),
        "team.budget": unsupported("TensorZero has no budgets"),
        "consumer.rateLimits": unsupported("not compiled"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": approximate("not compiled"),
        "provider.timeout": exact("provider timeout_ms"),
        "provider.credentials.file": approximate("keys come from the environment (env::NAME)"),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=exact("static experimentation weights"),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact(),
                FallbackTrigger.server_error: exact(),
                FallbackTrigger.timeout: exact(),
                FallbackTrigger.connection_error: exact(),
                FallbackTrigger.context_length: approximate("TensorZero fails over on any error"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        policy = lowering.policy
        parts = [header.comment(), _table(["gateway", "observability"], {"enabled": False})]
        for lane in lowering.lanes.values():
            fn = function_name(lane.name)
            parts.append(_table(["functions", fn], {"type": "chat"}))
            variants = {}
            for index, arm in enumerate(lane.arms):
                variant = f"arm{index}"
                variants[variant] = round(arm.fraction, 6)
                parts.append(
                    _table(
                        ["functions", fn, "variants", variant],
                        {
                            "type": "chat_completion",
                            "model": arm_model(lane.name, index),
                        },
                    )
                )
            if len(variants) > 1:
                parts.append(
                    _table(
                        ["functions", fn, "experimentation"],
                        {"type": "static", "candidate_variants": variants},
                    )
                )
            for index, arm in enumerate(lane.arms):
                model = arm_model(lane.name, index)
                parts.append(_table(["models", model], {"routing": list(arm.chain)}))
                for name in arm.chain:
                    info, provider = model_and_provider(policy, name)
                    parts.append(
                        _table(
                            ["models", model, "providers", name],
                            {
                                "type": "openai",
                                "model_name": info.upstream_model,
                                "api_base": provider.base_url.rstrip("/") + "/",
                                "api_key_location": f"env::{provider_env(provider)}",
                                "timeouts": {
                                    "non_streaming": {
                                        "total_ms": int(provider.timeout_seconds * 1000)
                                    }
                                },
                            },
                        )
                    )
        selectors = {
            "//": " | ".join(header.lines()),
            "intents": sorted(policy.intents),
            "classifications": sorted(policy.classifications),
            "selectors": [
                {
                    "intent": s.intent,
                    "classification": s.classification,
                    "function": function_name(s.lane) if s.lane else None,
                    "unroutable": s.reason,
                }
                for s in lowering.selectors
            ],
            "functions": {
                function_name(lane.name): {
                    f"arm{i}": list(arm.chain) for i, arm in enumerate(lane.arms)
                }
                for lane in lowering.lanes.values()
            },
        }
        return {
            "tensorzero.toml": "".join(parts),
            "routectl-lanes.json": json.dumps(selectors, indent=2) + "\n",
        }
