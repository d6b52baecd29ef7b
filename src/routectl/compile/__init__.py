"""``routectl compile``: native configuration for other gateways, from the same policy.

One module per target on a shared base (:mod:`routectl.compile.base`,
:mod:`routectl.compile.target`); :data:`TARGETS` is the registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache

from routectl.compile.base import FEATURES, Finding, Level, Support, lower, used_features
from routectl.compile.target import Header, Target
from routectl.core.policy import Policy
from routectl.loader.yaml_source import SourceDocument

# target name -> "module:Class"
TARGETS: dict[str, str] = {
    "litellm": "routectl.compile.litellm:LiteLLM",
    "portkey": "routectl.compile.portkey:Portkey",
    "envoy": "routectl.compile.envoy:Envoy",
    "tensorzero": "routectl.compile.tensorzero:TensorZero",
    "kong": "routectl.compile.kong:Kong",
    "envoy-ai-gateway": "routectl.compile.envoy_ai_gateway:EnvoyAIGateway",
}


@cache
def target(name: str) -> Target:
    module, cls = TARGETS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


@dataclass
class CompileResult:
    target: str
    files: dict[str, str] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check(documents: list[SourceDocument], policy: Policy, name: str) -> list[Finding]:
    """What the policy uses that ``name`` expresses only approximately or not at all."""
    table = target(name).features
    findings = []
    for usage in used_features(documents, policy):
        level = table[usage.feature]
        if level.support is not Support.exact:
            findings.append(Finding(usage, name, level))
    return findings


def compile_policy(
    documents: list[SourceDocument],
    policy: Policy,
    name: str,
    header: Header,
    allow_approximate: bool = False,
) -> CompileResult:
    """The target's files, or the findings that stop them (nothing is written then)."""
    result = CompileResult(name)
    for finding in check(documents, policy, name):
        if finding.is_error or not allow_approximate:
            result.errors.append(finding)
        else:
            result.warnings.append(finding)
    if result.errors:
        return result
    result.files = target(name).render(lower(policy), header)
    return result


def support_matrix() -> dict[str, dict[str, Level]]:
    """feature -> target -> level, in FEATURES order."""
    return {f: {name: target(name).features[f] for name in TARGETS} for f in FEATURES}


__all__ = [
    "FEATURES",
    "TARGETS",
    "CompileResult",
    "Header",
    "check",
    "compile_policy",
    "support_matrix",
    "target",
]
