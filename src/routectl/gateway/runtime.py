"""Stored configuration -> a ready-to-serve runtime, and hot reload between revisions.

A :class:`Runtime` is built once per revision, off the event loop: the policy
resolved, every model's upstream URL and credential headers prepared, consumer
keys hashed, ``/v1/models`` bodies rendered. Requests only read it, so the hot
path does no policy resolution, no secret lookup and no store I/O.

Reload: :class:`RuntimeHolder` follows the store (PostgreSQL's NOTIFY through
``wait_for_change`` when the store has it, else polling ``current_revision()``
every 0.25 s); on a new revision it builds the next runtime to the side and swaps one reference. A
request keeps the runtime it started with, so in-flight requests are never
dropped or switched half-way. A revision that cannot be built is logged and
the previous runtime keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from routectl.core.failover import OutcomeKind
from routectl.core.policy import Policy, ProviderInfo, resolve
from routectl.core.state import address, documents_from_resources
from routectl.gateway.auth import KeyTable, build_key_table
from routectl.gateway.egress import EgressPolicy, EgressRefused
from routectl.gateway.providers import AdapterProblem, ProviderAdapter, Target, adapter_for
from routectl.gateway.secrets import DEFAULT_EGRESS, SecretUnavailable, resolve_secret
from routectl.store.base import ConfigStore

log = logging.getLogger("routectl.gateway")


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where and how to send one model's requests: its provider's adapter and the model."""

    model: str
    provider: str
    adapter: ProviderAdapter | None  # None when unusable (see ``problem``)
    target: Target
    timeout: aiohttp.ClientTimeout  # sock_read: the wait for any next byte
    problem: str | None = None  # why it cannot be used (missing credential, unusable config)
    problem_kind: OutcomeKind = OutcomeKind.missing_credential

    @property
    def upstream_model(self) -> str:
        return self.target.upstream_model


@dataclass(frozen=True)
class Runtime:
    revision: int
    policy: Policy
    upstreams: Mapping[str, Upstream]
    keys: KeyTable
    models_body: Mapping[str | None, bytes]  # consumer -> GET /v1/models response
    # metadata keys some route matches on: what the decision log keeps of a request's metadata
    metadata_keys: frozenset[str] = frozenset()


def build_runtime(store: ConfigStore, egress: EgressPolicy = DEFAULT_EGRESS) -> Runtime:
    """The runtime of the store's current revision (blocking: run it in a thread)."""
    snapshot = store.snapshot()
    policy = resolve(documents_from_resources(s.resource for s in snapshot.resources.values()))
    adapters = {name: _adapter(p, store, egress) for name, p in policy.providers.items()}
    if policy.semantic:  # the same detector explain, policy tests and simulate build
        from routectl.detect import attach

        attach(policy, lambda provider: _encoder_headers(provider, store, egress))
    upstreams = {}
    for model in policy.models.values():
        provider = policy.providers[model.provider]
        adapter, problem, kind = adapters[provider.name]
        upstreams[model.name] = Upstream(
            model=model.name,
            provider=provider.name,
            adapter=adapter,
            target=Target.of(model),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=min(provider.timeout_seconds, 10.0),
                sock_read=provider.timeout_seconds,
            ),
            problem=problem,
            problem_kind=kind,
        )
    return Runtime(
        revision=snapshot.revision,
        policy=policy,
        upstreams=upstreams,
        keys=build_key_table(policy.consumers, store, egress),
        models_body=_models_bodies(policy),
        metadata_keys=frozenset(key for r in policy.routes for key, _ in r.metadata),
    )


def _adapter(
    provider: ProviderInfo, store: ConfigStore, egress: EgressPolicy
) -> tuple[ProviderAdapter | None, str | None, OutcomeKind]:
    """The provider's adapter with its credentials resolved, or why there is none."""
    where = address("Provider", provider.name)
    try:
        egress.check_base_url(provider.base_url)
    except EgressRefused as exc:
        log.warning("provider %s is unusable: baseUrl refused: %s", provider.name, exc)
        return None, f"baseUrl refused ({exc})", OutcomeKind.unsupported
    try:
        key = None
        if provider.api_key_ref:
            key = resolve_secret(
                provider.api_key_ref, store, where, ("credentials", "apiKey"), egress
            )
        headers = {
            name.lower(): resolve_secret(
                ref, store, where, ("credentials", "headers", name), egress
            )
            for name, ref in provider.header_refs
        }
    except SecretUnavailable as exc:
        log.warning("provider %s is unusable: %s", provider.name, exc)
        return None, f"credential unavailable ({exc})", OutcomeKind.missing_credential
    try:
        return adapter_for(provider, key, headers), None, OutcomeKind.answered
    except AdapterProblem as exc:
        log.warning("provider %s is unusable: %s", provider.name, exc)
        return None, str(exc), OutcomeKind.unsupported


def _encoder_headers(
    provider: ProviderInfo, store: ConfigStore, egress: EgressPolicy
) -> dict[str, str]:
    """Credential headers for an intent encoder's calls (OpenAI-compatible: a bearer key),
    under the same egress policy as every provider the gateway forwards to."""
    where = address("Provider", provider.name)
    try:
        egress.check_base_url(provider.base_url)
        headers = {
            name.lower(): resolve_secret(
                ref, store, where, ("credentials", "headers", name), egress
            )
            for name, ref in provider.header_refs
        }
        if provider.api_key_ref:
            key = resolve_secret(
                provider.api_key_ref, store, where, ("credentials", "apiKey"), egress
            )
            headers["authorization"] = f"Bearer {key}"
    except EgressRefused as exc:
        log.warning("intent encoder at provider %s is refused: %s", provider.name, exc)
        return {}
    except SecretUnavailable as exc:  # the encoder's calls then fail, named, as misses
        log.warning("intent encoder at provider %s has no credential: %s", provider.name, exc)
        return {}
    return headers


def _models_bodies(policy: Policy) -> dict[str | None, bytes]:
    """Per consumer, the models it may ask for by name: a route it can match serves the model
    (``RouteInfo.candidates``, what a pinned request is granted from), and a classification
    that route and consumer admit may reach it."""
    bodies: dict[str | None, bytes] = {}
    every_class = [*policy.classifications, None]
    for consumer_name in [None, *policy.consumers]:
        consumer = policy.consumers.get(consumer_name) if consumer_name else None
        names: set[str] = set()
        for route in policy.routes:
            if route.consumers and consumer_name not in route.consumers:
                continue
            if route.teams and (consumer is None or consumer.team not in route.teams):
                continue
            if (
                consumer
                and consumer.intents
                and route.intents
                and not (route.intents & consumer.intents)
            ):
                continue
            classes: list[str | None] = every_class
            if route.classifications:
                classes = [c for c in classes if c in route.classifications]
            if consumer and consumer.classifications:
                classes = [c for c in classes if c in consumer.classifications]
            reachable: set[str] = set()
            for name in classes:
                reachable |= policy.allowed_models(name)
            names.update(route.candidates & reachable)
        data = [
            {"id": n, "object": "model", "created": 0, "owned_by": policy.models[n].provider}
            for n in sorted(names)
            if n in policy.models
        ]
        bodies[consumer_name] = orjson.dumps({"object": "list", "data": data})
    return bodies


class RuntimeHolder:
    """The current runtime, replaced by a background poller when the revision moves."""

    def __init__(
        self,
        store: ConfigStore,
        poll_interval_s: float = 0.25,
        egress: EgressPolicy = DEFAULT_EGRESS,
    ) -> None:
        self.store = store
        self.egress = egress
        self.poll_interval_s = poll_interval_s
        self.runtime: Runtime | None = None
        self.on_swap = lambda runtime: None

    async def load(self) -> Runtime:
        runtime = await asyncio.to_thread(build_runtime, self.store, self.egress)
        self._swap(runtime)
        return runtime

    def _swap(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.on_swap(runtime)
        log.info("serving configuration revision %d", runtime.revision)

    async def poll_forever(self) -> None:
        """Follow the store: LISTEN/NOTIFY where it offers ``wait_for_change``, else polling."""
        wait_for_change = getattr(self.store, "wait_for_change", None)
        last_error = None
        while True:
            try:
                if wait_for_change is not None and self.runtime is not None:
                    # Blocks in a thread until a NOTIFY or the timeout; returns the revision.
                    revision = await asyncio.to_thread(wait_for_change, self.runtime.revision, 1.0)
                else:
                    await asyncio.sleep(self.poll_interval_s)
                    revision = await asyncio.to_thread(self.store.current_revision)
                if self.runtime is not None and revision == self.runtime.revision:
                    continue
                self._swap(await asyncio.to_thread(build_runtime, self.store, self.egress))
                last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving the previous revision; retry next poll
                if str(exc) != last_error:
                    log.error("cannot load the configuration: %s", exc)
                    last_error = str(exc)
                await asyncio.sleep(self.poll_interval_s)
