"""The fidelity harness: one policy compiled for a real gateway, the same requests
through the gateway and through the core evaluator, and what reached the upstreams.

The policy is the three-tier example with every provider pointed at one mock
upstream (``{mock}/{provider}``), without its team-matched route (no target
compiles team matching), consumers and rate limits. Each request carries a marker in its prompt so the
upstream attempt it caused can be found in the mock's records.
"""

from __future__ import annotations

import math
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from routectl.cli.common import load_policy
from routectl.compile import compile_policy
from routectl.compile.base import lower
from routectl.compile.target import Header
from routectl.core.evaluator import decide
from routectl.core.policy import Policy
from routectl.core.request import Request
from tests.gateway.mock_upstream import MockUpstream

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "policies" / "three-tier"
# Each provider's key variable gets this value; the mock records what arrived.
API_KEY = "sk-routectl-fidelity"


def fidelity_policy(directory: Path, upstream_url: str) -> Path:
    shutil.copytree(EXAMPLE, directory)
    providers = directory / "providers.yaml"
    docs = providers.read_text().split("\n---\n")
    out = []
    for doc in docs:
        name = re.search(r"metadata:\s*\{?\s*name:\s*([\w.-]+)", doc).group(1)
        doc = re.sub(r"baseUrl:.*", f"baseUrl: {upstream_url}/{name}", doc)
        doc = re.sub(r"\n\s*rateLimits:.*", "", doc)
        out.append(doc)
    providers.write_text("\n---\n".join(out))
    # Budgets and rate limits are not what these tests measure (some targets lack them).
    (directory / "consumers.yaml").unlink()
    models = directory / "models.yaml"
    models.write_text(re.sub(r"\n\s*rateLimits:.*", "", models.read_text()))
    routes = directory / "routes.yaml"
    kept = [d for d in routes.read_text().split("\n---\n") if "name: support-drafts}" not in d]
    routes.write_text("\n---\n".join(kept))
    return directory


def key_env(policy: Policy) -> dict[str, str]:
    from routectl.compile.target import provider_env

    return {provider_env(p): API_KEY for p in policy.providers.values()}


@dataclass
class Compiled:
    policy: Policy
    files: dict[str, str]
    lowering: object


def compile_for(directory: Path, target: str) -> Compiled:
    loaded = load_policy([str(directory)])
    header = Header(str(directory), "test", "test")
    result = compile_policy(loaded.documents, loaded.policy, target, header, allow_approximate=True)
    assert result.ok, [f.message() for f in result.errors]
    return Compiled(loaded.policy, result.files, lower(loaded.policy))


def marker() -> str:
    return f"req-{uuid.uuid4().hex}"


def expected(policy: Policy, intent: str | None, classification: str | None, request_id: str):
    return decide(policy, Request(intent=intent, classification=classification, request_id=request_id))


def upstream_model_names(policy: Policy) -> dict[tuple[str, str], str]:
    """(provider, upstream model id) -> routectl model."""
    return {(m.provider, m.upstream_model): name for name, m in policy.models.items()}


class RecordingUpstream(MockUpstream):
    """The gateway tests' mock upstream, also keeping one log of arrivals in order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, dict]] = []

    async def chat(self, request):
        body = await request.json()
        self.log.append((request.path_params["provider"], body))
        return await super().chat(request)

    def reset(self, mode: str = "ok") -> None:
        self.log.clear()
        for behaviour in self.providers.values():
            behaviour.mode = mode
            behaviour.received.clear()


def attempts(mock: RecordingUpstream, policy: Policy) -> dict[str, list[str]]:
    """marker -> the routectl models its request reached, in arrival order."""
    names = upstream_model_names(policy)
    seen: dict[str, list[str]] = {}
    for provider, body in mock.log:
        text = " ".join(str(m.get("content")) for m in body.get("messages", []))
        found = re.search(r"req-[0-9a-f]{32}", text)
        if found:
            model = names.get((provider, body.get("model")), f"?{provider}/{body.get('model')}")
            seen.setdefault(found.group(0), []).append(model)
    return seen


def within_band(counts: Counter, expected_share: dict[str, float], total: int) -> list[str]:
    """Arms whose observed count lies outside a 3-sigma binomial band."""
    problems = []
    for model, share in expected_share.items():
        mean = total * share
        sigma = math.sqrt(total * share * (1 - share))
        if abs(counts.get(model, 0) - mean) > 3 * sigma + 1e-9:
            problems.append(f"{model}: {counts.get(model, 0)} of {total}, expected {mean:.0f}±{3 * sigma:.0f}")
    return problems
