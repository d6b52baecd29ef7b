"""LiteLLM proxy (and ``litellm.Router``): ``config.yaml`` plus a pre-call hook module.

Lowering:
- every lane arm is a model group with one deployment (its primary); its
  fallback chain is LiteLLM ``fallbacks`` to one single-deployment group per
  model (``model/<name>``), tried in order;
- the hook (``routectl_lanes.py``, loaded through ``litellm_settings.callbacks``)
  reads ``x-routectl-intent``/``x-routectl-classification`` (or the body's
  ``metadata``), picks the lane from the compiled selector table and draws the
  arm by its share, then sets the request's ``model`` to that group. Unroutable
  requests are refused with a 400 before any upstream is called;
- ``num_retries: 0`` and ``disable_cooldowns: true``: routectl never retries the
  same model, and a deployment that failed once is not skipped for the next
  request (routectl's breaker opens only after 5 failures);
- ``model_info.id`` is the group name, so ``x-litellm-model-id`` names the lane
  arm or fallback that answered; ``DEPLOYMENTS`` in the hook maps it to the model.
"""

from __future__ import annotations

import json

import yaml

from routectl.compile.base import (
    CLASSIFICATION_HEADER,
    INTENT_HEADER,
    Lane,
    Lowering,
    approximate,
    exact,
    unsupported,
)
from routectl.compile.target import (
    Header,
    Target,
    chat_url,
    filter_levels,
    model_and_provider,
    provider_env,
    strategy_levels,
    trigger_levels,
)
from routectl.core.failover import DEFAULT_TRIGGERS, FallbackTrigger

HOOK_MODULE = "routectl_lanes"


def arm_group(lane: Lane, index: int) -> str:
    return lane.name if len(lane.arms) == 1 else f"{lane.name}#{index}"


def model_group(model: str) -> str:
    return f"model/{model}"


class LiteLLM(Target):
    name = "litellm"
    title = "LiteLLM proxy"
    features = {
        "match.intents": exact("lane selected by the compiled pre-call hook"),
        "match.classifications": exact("lane selected by the compiled pre-call hook"),
        "match.languages": unsupported("the hook selects lanes by intent and classification"),
        "match.consumers": unsupported("config-file mode has no consumers"),
        "match.teams": unsupported("config-file mode has no teams"),
        "match.metadata": unsupported("the hook selects lanes by intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("callers send x-routectl-intent; else the default intent"),
        "fallback.chain": exact("fallbacks to single-deployment groups, in order"),
        "fallback.on.subset": approximate("LiteLLM fails over on every retryable error"),
        "stickyBy.consumer": approximate("arms drawn per request, not sticky"),
        "stickyBy.session": approximate("arms drawn per request, not sticky"),
        "shadows": unsupported("LiteLLM has no shadow traffic"),
        "experiment.live": exact("one more weighted arm"),
        "experiment.shadow": unsupported("LiteLLM has no shadow traffic"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("config-file mode: one master key, no per-key rules"),
        "consumer.budget": approximate("config-file mode has no key budgets"),
        "team.budget": approximate("config-file mode has no team budgets"),
        "consumer.rateLimits": approximate("config-file mode has no per-key limits"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": approximate("rpm/tpm set on deployments; LiteLLM counts them per instance"),
        "provider.timeout": exact("litellm_params.timeout"),
        "provider.credentials.file": approximate(
            "LiteLLM reads keys from the environment: export the file's content"
        ),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=exact("the hook draws the arm by its share"),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact(),
                FallbackTrigger.server_error: exact(),
                FallbackTrigger.timeout: exact(),
                FallbackTrigger.connection_error: exact(),
                FallbackTrigger.context_length: exact("context_window_fallbacks"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        policy = lowering.policy
        model_list = []
        fallbacks = []
        context_fallbacks = []
        deployments: dict[str, str] = {}

        def deployment(group: str, name: str) -> dict:
            model, provider = model_and_provider(policy, name)
            params = {
                "model": f"openai/{model.upstream_model}",
                "api_base": chat_url(provider),
                "api_key": f"os.environ/{provider_env(provider)}",
                "timeout": provider.timeout_seconds,
            }
            rpm = model.rpm or provider.rpm
            tpm = model.tpm or provider.tpm
            if rpm:
                params["rpm"] = rpm
            if tpm:
                params["tpm"] = tpm
            deployments[group] = name
            return {
                "model_name": group,
                "litellm_params": params,
                "model_info": {
                    "id": group,
                    "input_cost_per_token": model.price_input / 1_000_000,
                    "output_cost_per_token": model.price_output / 1_000_000,
                    "max_input_tokens": model.context_window,
                    "max_output_tokens": model.max_output_tokens,
                },
            }

        lanes_table: dict[str, list[list]] = {}
        for lane in lowering.lanes.values():
            arms = []
            for index, arm in enumerate(lane.arms):
                group = arm_group(lane, index)
                model_list.append(deployment(group, arm.primary))
                arms.append([group, round(arm.fraction, 6)])
                rest = [model_group(m) for m in arm.chain[1:]]
                if rest:
                    entry = {group: rest}
                    if lane.triggers & set(DEFAULT_TRIGGERS):
                        fallbacks.append(entry)
                    if FallbackTrigger.context_length in lane.triggers:
                        context_fallbacks.append(entry)
            lanes_table[lane.name] = arms
        for name in lowering.models:
            model_list.append(deployment(model_group(name), name))
        config = {
            # Config-file mode: one master key from the environment, no database.
            "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
            "model_list": model_list,
            "router_settings": {
                "routing_strategy": "simple-shuffle",
                "num_retries": 0,
                "disable_cooldowns": True,
                "fallbacks": fallbacks,
                "context_window_fallbacks": context_fallbacks,
            },
            "litellm_settings": {
                "callbacks": f"{HOOK_MODULE}.proxy_handler_instance",
                "num_retries": 0,
                "request_timeout": max(
                    (p.timeout_seconds for p in policy.providers.values()), default=60.0
                ),
                "drop_params": True,
                "telemetry": False,
            },
        }
        text = header.comment() + yaml.safe_dump(config, sort_keys=False, width=100)
        selectors = {
            f"{s.intent or ''}|{s.classification or ''}": [s.lane, s.reason]
            for s in lowering.selectors
        }
        hook = _HOOK.format(
            header=header.comment(),
            intents=json.dumps(sorted(policy.intents)),
            classes=json.dumps(sorted(policy.classifications)),
            selectors=json.dumps(selectors, indent=1, sort_keys=True),
            lanes=json.dumps(lanes_table, indent=1, sort_keys=True),
            deployments=json.dumps(deployments, indent=1, sort_keys=True),
            intent_header=INTENT_HEADER,
            class_header=CLASSIFICATION_HEADER,
        )
        return {"config.yaml": text, f"{HOOK_MODULE}.py": hook}


_HOOK = '''{header}"""Selects a routectl lane for each request and names its model group."""

import json
import random

INTENTS = set({intents})
CLASSIFICATIONS = set({classes})
# "intent|classification" -> [lane, why unroutable]
SELECTORS = json.loads("""{selectors}""")
# lane -> [[model group, share], ...]
LANES = json.loads("""{lanes}""")
# model_info.id (the x-litellm-model-id header) -> routectl model
DEPLOYMENTS = json.loads("""{deployments}""")


def select(intent, classification):
    """(lane, reason): the lane for these request features, or None and why not."""
    if intent not in INTENTS:
        intent = None
    if classification not in CLASSIFICATIONS:
        classification = None
    lane, reason = SELECTORS["%s|%s" % (intent or "", classification or "")]
    return lane, reason


def choose_group(lane, rng=random):
    """The model group of one arm of ``lane``, drawn by share."""
    arms = LANES[lane]
    if len(arms) == 1:
        return arms[0][0]
    point = rng.random() * sum(share for _, share in arms)
    for group, share in arms:
        point -= share
        if point < 0:
            return group
    return arms[-1][0]


def request_features(data):
    headers = (data.get("proxy_server_request") or {{}}).get("headers") or {{}}
    headers = {{k.lower(): v for k, v in headers.items()}}
    metadata = data.get("metadata") or {{}}
    intent = headers.get("{intent_header}") or metadata.get("intent")
    classification = headers.get("{class_header}") or metadata.get("classification")
    return intent, classification


try:
    from fastapi import HTTPException
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:  # imported outside the proxy (litellm.Router users call select())
    CustomLogger = object
    HTTPException = None


class RoutectlLanes(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        lane, reason = select(*request_features(data))
        if lane is None:
            raise HTTPException(status_code=400, detail={{"error": "unroutable: %s" % reason}})
        data["model"] = choose_group(lane)
        return data


proxy_handler_instance = RoutectlLanes()
'''
