"""Envoy: one static bootstrap (``envoy.yaml``), checked offline by ``envoy --mode validate``.

Lowering:
- a Lua filter on the front listener reads ``x-routectl-intent`` and
  ``x-routectl-classification`` (lifted from the JSON body's ``metadata`` when
  the headers are absent), looks the lane up in the compiled selector table and
  sets ``x-routectl-lane`` (a client's own value is overwritten);
- routes match that header: one route per lane, ``weighted_clusters`` for the
  arms, a ``direct_response`` 400 for unroutable requests;
- each arm is a cluster whose endpoints are the arm's chain as priorities
  (primary at priority 0); the retry policy (``previous_priorities``) walks the
  chain on the lane's triggers (5xx, retriable status 429, connect failure);
- every endpoint is an internal listener per model that rewrites the body's
  ``model`` to the upstream id, the path onto the provider's base URL and sets
  the provider key from the environment, then forwards to the provider cluster.
  Its answers carry ``x-routectl-model``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import yaml

from routectl.compile.base import (
    CLASSIFICATION_HEADER,
    INTENT_HEADER,
    LANE_HEADER,
    Lowering,
    approximate,
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

DEFAULT_PORT = 10000
UNROUTABLE = "-"


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def chain_cluster(chain: tuple[str, ...]) -> str:
    return f"chain-{short_hash('>'.join(chain))}"


class Envoy(Target):
    name = "envoy"
    title = "Envoy"
    features = {
        "match.intents": exact("Lua selector sets x-routectl-lane; routes match it"),
        "match.classifications": exact("Lua selector sets x-routectl-lane; routes match it"),
        "match.languages": unsupported("lanes are selected by intent and classification"),
        "match.consumers": unsupported("Envoy has no routectl consumers"),
        "match.teams": unsupported("Envoy has no routectl teams"),
        "match.metadata": unsupported("lanes are selected by intent and classification"),
        "intent.unknown": approximate("an unknown intent is selected as a missing one"),
        "intent.detection": approximate("callers send x-routectl-intent; else the default intent"),
        "fallback.chain": exact("endpoint priorities walked by previous_priorities retries"),
        "fallback.on.subset": approximate("Envoy's 5xx policy also retries resets and timeouts"),
        "stickyBy.consumer": approximate("weighted_clusters draws per request"),
        "stickyBy.session": approximate("weighted_clusters draws per request"),
        "shadows": approximate("request_mirror_policies would copy, but not per model chain"),
        "experiment.live": exact("one more weighted cluster"),
        "experiment.shadow": unsupported("not compiled"),
        "model.languages": approximate("no per-request language filter"),
        "consumer.access": approximate("Envoy does not authenticate routectl consumers"),
        "consumer.budget": unsupported("Envoy has no budgets"),
        "team.budget": unsupported("Envoy has no budgets"),
        "consumer.rateLimits": unsupported("not compiled"),
        "match.requestSize": unsupported("not compiled"),
        "match.budget": unsupported("not compiled"),
        "rateLimits": approximate("not compiled; Envoy's rate limiting needs a service"),
        "provider.timeout": exact("per_try_timeout of the lane, the longest of its chain"),
        "provider.credentials.file": approximate("keys come from the environment (os.getenv)"),
        **strategy_levels(
            ordered=exact("order fixed at compile time by the core"),
            drawn=exact("weighted_clusters"),
            token_mix=approximate("order fixed for a zero-token request"),
        ),
        **trigger_levels(
            {
                FallbackTrigger.rate_limited: exact("retriable_status_codes: [429]"),
                FallbackTrigger.server_error: exact("retry_on 5xx"),
                FallbackTrigger.timeout: exact("per_try_timeout"),
                FallbackTrigger.connection_error: exact("retry_on connect-failure, reset"),
                FallbackTrigger.context_length: unsupported("Envoy cannot tell this error"),
            }
        ),
        **filter_levels(approximate("lanes are built without token counts")),
    }

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.port = port

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        policy = lowering.policy
        routes = []
        chains: dict[str, tuple[str, ...]] = {}
        for lane in lowering.lanes.values():
            clusters = []
            for arm in lane.arms:
                name = chain_cluster(arm.chain)
                chains[name] = arm.chain
                clusters.append({"name": name, "weight": max(1, round(arm.fraction * 10000))})
            action: dict = {"timeout": "0s"}
            if len(clusters) == 1:
                action["cluster"] = clusters[0]["name"]
            else:
                action["weighted_clusters"] = {"clusters": clusters}
            longest = max(len(arm.chain) for arm in lane.arms)
            timeout = max(model_and_provider(policy, m)[1].timeout_seconds for m in lane.models)
            retry_on = []
            if FallbackTrigger.server_error in lane.triggers:
                retry_on.append("5xx")
            if FallbackTrigger.connection_error in lane.triggers:
                retry_on += ["connect-failure", "reset", "refused-stream"]
            if FallbackTrigger.rate_limited in lane.triggers:
                retry_on.append("retriable-status-codes")
            if FallbackTrigger.timeout in lane.triggers:
                retry_on.append("gateway-error")
            if longest > 1 and retry_on:
                action["retry_policy"] = {
                    "retry_on": ",".join(retry_on),
                    "num_retries": longest - 1,
                    "per_try_timeout": f"{timeout:g}s",
                    "retry_priority": {
                        "name": "envoy.retry_priorities.previous_priorities",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.retry.priority."
                            "previous_priorities.v3.PreviousPrioritiesConfig",
                            "update_frequency": 1,
                        },
                    },
                    "host_selection_retry_max_attempts": 3,
                }
                if FallbackTrigger.rate_limited in lane.triggers:
                    action["retry_policy"]["retriable_status_codes"] = [429]
            else:
                action["timeout"] = f"{timeout:g}s"
            routes.append(
                {
                    "name": lane.name,
                    "match": {
                        "prefix": "/",
                        "headers": [{"name": LANE_HEADER, "string_match": {"exact": lane.name}}],
                    },
                    "route": action,
                }
            )
        routes.append(
            {
                "name": "unroutable",
                "match": {"prefix": "/"},
                "direct_response": {
                    "status": 400,
                    "body": {
                        "inline_string": json.dumps(
                            {"error": {"message": "unroutable", "type": "invalid_request_error"}}
                        )
                    },
                },
            }
        )
        listeners = [
            _listener(
                "routectl",
                {"socket_address": {"address": "127.0.0.1", "port_value": self.port}},
                routes,
                _selector_lua(lowering),
            )
        ]
        clusters = []
        for name in sorted(chains):
            chain = chains[name]
            clusters.append(
                {
                    "name": name,
                    "connect_timeout": "5s",
                    "load_assignment": {
                        "cluster_name": name,
                        "endpoints": [
                            {
                                "priority": priority,
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "envoy_internal_address": {
                                                    "server_listener_name": f"model.{model}"
                                                }
                                            }
                                        }
                                    }
                                ],
                            }
                            for priority, model in enumerate(chain)
                        ],
                    },
                    "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
                    "transport_socket": {
                        "name": "envoy.transport_sockets.internal_upstream",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.transport_sockets."
                            "internal_upstream.v3.InternalUpstreamTransport",
                            "transport_socket": {
                                "name": "envoy.transport_sockets.raw_buffer",
                                "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions."
                                    "transport_sockets.raw_buffer.v3.RawBuffer"
                                },
                            },
                        },
                    },
                }
            )
        providers = set()
        for model in lowering.models:
            info, provider = model_and_provider(policy, model)
            providers.add(provider.name)
            url = urlsplit(provider.base_url)
            path = url.path.rstrip("/")
            route = {
                "name": model,
                "match": {"path": "/v1/chat/completions"},
                "route": {
                    "cluster": f"provider.{provider.name}",
                    "prefix_rewrite": f"{path}/chat/completions",
                    "host_rewrite_literal": url.netloc,
                    "timeout": f"{provider.timeout_seconds:g}s",
                },
                "response_headers_to_add": [
                    {"header": {"key": "x-routectl-model", "value": model}},
                ],
            }
            lua = _model_lua(info.upstream_model, provider_env(provider))
            listeners.append(_listener(f"model.{model}", None, [route], lua, internal=True))
        for name in sorted(providers):
            clusters.append(_provider_cluster(policy.providers[name]))
        config = {
            "bootstrap_extensions": [
                {
                    "name": "envoy.bootstrap.internal_listener",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.bootstrap."
                        "internal_listener.v3.InternalListener"
                    },
                }
            ],
            "static_resources": {"listeners": listeners, "clusters": clusters},
        }
        return {"envoy.yaml": header.comment() + yaml.safe_dump(config, sort_keys=False, width=100)}


def _listener(
    name: str, address: dict | None, routes: list, lua: str, internal: bool = False
) -> dict:
    manager = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {
                "name": name,
                "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.lua",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                        "default_source_code": {"inline_string": lua},
                    },
                },
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router."
                        "v3.Router"
                    },
                },
            ],
        },
    }
    listener: dict = {"name": name, "filter_chains": [{"filters": [manager]}]}
    if internal:
        listener["internal_listener"] = {}
    else:
        listener["address"] = address
    return listener


def _provider_cluster(provider) -> dict:
    url = urlsplit(provider.base_url)
    tls = url.scheme == "https"
    host = url.hostname or "localhost"
    port = url.port or (443 if tls else 80)
    is_ip = host.replace(".", "").isdigit()
    cluster: dict = {
        "name": f"provider.{provider.name}",
        "type": "STATIC" if is_ip else "LOGICAL_DNS",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": f"provider.{provider.name}",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if not is_ip:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                "UpstreamTlsContext",
                "sni": host,
            },
        }
    return cluster


def _selector_lua(lowering: Lowering) -> str:
    policy = lowering.policy
    entries = "\n".join(
        f"  [{_lua_string((s.intent or '') + '|' + (s.classification or ''))}] = "
        f"{_lua_string(s.lane or UNROUTABLE)},"
        for s in lowering.selectors
    )
    intents = ", ".join(f"[{_lua_string(i)}] = true" for i in sorted(policy.intents))
    classes = ", ".join(f"[{_lua_string(c)}] = true" for c in sorted(policy.classifications))
    return f"""-- routectl lane selector: (intent, classification) -> lane
local SELECT = {{
{entries}
}}
local INTENTS = {{{intents}}}
local CLASSES = {{{classes}}}

local function body_metadata(handle)
  -- handle:body() buffers the body; header handles taken before it are void after it.
  local body = handle:body()
  if body == nil then return nil end
  return string.match(body:getBytes(0, body:length()), '"metadata"%s*:%s*(%b{{}})')
end

local function field(metadata, key)
  if metadata == nil then return nil end
  return string.match(metadata, '"' .. key .. '"%s*:%s*"([^"]*)"')
end

function envoy_on_request(handle)
  local intent = handle:headers():get("{INTENT_HEADER}")
  local class = handle:headers():get("{CLASSIFICATION_HEADER}")
  if intent == nil or class == nil then
    local metadata = body_metadata(handle)
    intent = intent or field(metadata, "intent")
    class = class or field(metadata, "classification")
  end
  if intent == nil or not INTENTS[intent] then intent = "" end
  if class == nil or not CLASSES[class] then class = "" end
  handle:headers():replace("{LANE_HEADER}", SELECT[intent .. "|" .. class] or "{UNROUTABLE}")
  handle:clearRouteCache()
end
"""


def _model_lua(upstream_model: str, key_env: str) -> str:
    replacement = json.dumps({"model": upstream_model})[1:-1].replace("%", "%%")
    return f"""-- rewrite the request for one model: upstream id in the body, provider key
local REPLACEMENT = {_lua_string(replacement)}
local KEY = os.getenv({_lua_string(key_env)})

function envoy_on_request(handle)
  local body = handle:body()
  if body ~= nil then
    local text = body:getBytes(0, body:length())
    local rewritten = string.gsub(text, '"model"%s*:%s*"[^"]*"', REPLACEMENT, 1)
    body:setBytes(rewritten)
  end
  if KEY ~= nil then
    handle:headers():replace("authorization", "Bearer " .. KEY)
  end
end
"""
