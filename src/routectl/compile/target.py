"""What every compile target is: a name, a feature table, files, and a lowering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from routectl.compile.base import FEATURES, Level, Lowering, approximate
from routectl.core.failover import FallbackTrigger
from routectl.core.filters import FILTERS
from routectl.core.policy import ModelInfo, Policy, ProviderInfo
from routectl.core.strategies import STRATEGIES


@dataclass(frozen=True)
class Header:
    """Who made a compiled file: the policy source, its git revision, routectl's version."""

    source: str
    revision: str
    version: str

    def lines(self) -> list[str]:
        return [
            "Compiled by routectl. Do not edit: change the policy and compile again.",
            f"policy: {self.source}",
            f"revision: {self.revision}",
            f"routectl: {self.version}",
        ]

    def comment(self, prefix: str = "#") -> str:
        return "".join(f"{prefix} {line}\n" for line in self.lines())


class Target:
    """A gateway routectl compiles for. Subclasses fill the class variables and ``render``."""

    name: ClassVar[str]
    title: ClassVar[str]
    # One entry per base.FEATURES key (tests/compile checks none is missing).
    features: ClassVar[dict[str, Level]]

    def render(self, lowering: Lowering, header: Header) -> dict[str, str]:
        """The compiled files, file name -> text (deterministic)."""
        raise NotImplementedError

    @classmethod
    def missing_features(cls) -> list[str]:
        return [f for f in FEATURES if f not in cls.features]


def env_name(ref: str | None, fallback: str) -> str:
    """The environment variable a secret reference names (``env:NAME``), else ``fallback``.

    ``file:`` references have no environment variable; targets that read keys
    from the environment declare that as an approximation (``provider.credentials``).
    """
    if ref and ref.startswith("env:"):
        return ref[4:]
    return fallback


def provider_env(provider: ProviderInfo) -> str:
    default = "ROUTECTL_" + provider.name.upper().replace("-", "_").replace(".", "_") + "_API_KEY"
    return env_name(provider.api_key_ref, default)


def chat_url(provider: ProviderInfo) -> str:
    return provider.base_url.rstrip("/")


def model_and_provider(policy: Policy, name: str) -> tuple[ModelInfo, ProviderInfo]:
    model = policy.models[name]
    return model, policy.providers[model.provider]


def strategy_levels(ordered: Level, drawn: Level, token_mix: Level) -> dict[str, Level]:
    """A target's support for every strategy the core declares, by what the strategy does:
    ``ordered`` (targets in a fixed order), ``drawn`` (a weighted draw), ``token_mix`` (an
    order that depends on the request's tokens, lowered as the order of a zero-token request)."""
    out = {}
    for strategy in STRATEGIES.values():
        out[f"strategy.{strategy.name}"] = drawn if strategy.draws else ordered
        if strategy.escalates:  # no compiled gateway checks an answer before returning it
            out[f"strategy.{strategy.name}"] = approximate(
                "answers are not checked: the cascade's order fails over on transport "
                "errors only (routectl's own gateway escalates on a failed check)"
            )
        if strategy.token_dependent:
            out[f"strategy.{strategy.name}.token-dependent"] = token_mix
    return out


def trigger_levels(levels: dict[FallbackTrigger, Level]) -> dict[str, Level]:
    """A target's support for every failover trigger the core declares (all must be given)."""
    missing = [t.value for t in FallbackTrigger if t not in levels]
    if missing:
        raise ValueError(f"no support level for failover triggers {missing}")
    return {f"fallback.on.{t.value}": levels[t] for t in FallbackTrigger}


def filter_levels(bounded: Level) -> dict[str, Level]:
    """A target's support for the core's token-dependent filters."""
    return {f"filter.{f.name}": bounded for f in FILTERS if f.token_dependent}
