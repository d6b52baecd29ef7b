"""The fidelity harness: one policy compiled for a real gateway, the same requests
through the gateway and through the core evaluator, and what reached the upstreams.

The policy is the three-tier example with every provider pointed at one mock
upstream (``{mock}/{provider}``), without its team-matched route (no target
compiles team matching), consumers and rate limits. Each request carries a
marker in its prompt so the upstream attempt it caused can be found in the
mock's records.
"""

from __future__ import annotations

import math
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import JSONResponse
from tests.gateway.mock_upstream import MockUpstream

from routectl.cli.common import load_policy
from routectl.compile import compile_policy
from routectl.compile.base import lower
from routectl.compile.target import Header
from routectl.core.evaluator import decide
from routectl.core.policy import Policy
from routectl.core.request import Request

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
    return decide(
        policy, Request(intent=intent, classification=classification, request_id=request_id)
    )


def upstream_model_names(policy: Policy) -> dict[tuple[str, str], str]:
    """(provider, upstream model id) -> routectl model."""
    return {(m.provider, m.upstream_model): name for name, m in policy.models.items()}


class RecordingUpstream(MockUpstream):
    """The gateway tests' mock upstream, also keeping one log of arrivals in order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, dict]] = []
        self.history: list[tuple[str, dict]] = []  # never reset

    async def chat(self, request):
        body = await request.json()
        provider = request.path_params["provider"]
        self.log.append((provider, body))
        self.history.append((provider, body))
        if self.providers[provider].mode == "503":
            self.providers[provider].received.append(body)
            return JSONResponse({"error": {"message": "unavailable", "type": "server_error"}}, 503)
        return await super().chat(request)

    def reset(self, mode: str = "ok") -> None:
        self.log.clear()
        for behaviour in self.providers.values():
            behaviour.mode = mode
            behaviour.received.clear()


def attempts(
    mock: RecordingUpstream, policy: Policy, history: bool = False
) -> dict[str, list[str]]:
    """marker -> the routectl models its request reached, in arrival order."""
    names = upstream_model_names(policy)
    seen: dict[str, list[str]] = {}
    for provider, body in mock.history if history else mock.log:
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
            problems.append(
                f"{model}: {counts.get(model, 0)} of {total}, expected {mean:.0f}±{3 * sigma:.0f}"
            )
    return problems


# --------------------------------------------------------------------------- the checks

WEIGHTED_REQUESTS = 1000


@dataclass
class Sent:
    intent: str | None
    classification: str | None
    marker: str
    status: int
    answered: str | None  # the routectl model the gateway says answered, when it says


class Fidelity:
    """Runs the request sets through ``send`` and checks them against the core.

    ``send(requests)`` takes ``[(intent, classification, marker), ...]`` and
    returns ``[(status, answered_model_or_None), ...]`` in the same order.
    """

    def __init__(self, compiled: Compiled, mock: RecordingUpstream, send) -> None:
        self.compiled = compiled
        self.policy = compiled.policy
        self.lowering = compiled.lowering
        self.mock = mock
        self.send = send
        self.sent: list[Sent] = []

    def _send(self, requests: list[tuple[str | None, str | None]]) -> list[Sent]:
        batch = [(i, c, marker()) for i, c in requests]
        results = self.send(batch)
        out = [
            Sent(i, c, m, status, answered)
            for (i, c, m), (status, answered) in zip(batch, results, strict=True)
        ]
        self.sent.extend(out)
        return out

    def selector_requests(self) -> list[tuple[str | None, str | None]]:
        pairs = [(s.intent, s.classification) for s in self.lowering.selectors]
        # Names the policy does not define behave as missing ones (fail closed).
        pairs += [("no-such-intent", "internal"), (None, "no-such-class")]
        return pairs

    def check_deterministic(self) -> None:
        """Every (intent, classification) whose lane has one arm: the exact model, first try."""
        self.mock.reset()
        wanted = []
        for intent, classification in self.selector_requests():
            lane = self.lowering.lane_for(intent, classification)
            if lane is None or len(self.lowering.lanes[lane].arms) == 1:
                wanted.append((intent, classification))
        results = self._send(wanted)
        seen = attempts(self.mock, self.policy)
        problems = []
        for sent in results:
            decision = expected(self.policy, sent.intent, sent.classification, sent.marker)
            got = seen.get(sent.marker, [])
            if not decision.routable:
                if sent.status == 200 or got:
                    problems.append(
                        f"{sent.intent}/{sent.classification}: unroutable, got {sent.status} {got}"
                    )
                continue
            if sent.status != 200 or got != [decision.primary]:
                problems.append(
                    f"{sent.intent}/{sent.classification}: expected {decision.primary}, "
                    f"got {sent.status} {got}"
                )
            elif sent.answered is not None and sent.answered != decision.primary:
                problems.append(
                    f"{sent.intent}/{sent.classification}: gateway says {sent.answered}"
                )
        assert not problems, "\n".join(problems)
        assert len(results) > len(self.lowering.lanes)

    def weighted_lane(self) -> tuple[str | None, str | None, object]:
        for selector in self.lowering.selectors:
            if selector.lane and len(self.lowering.lanes[selector.lane].arms) > 1:
                return selector.intent, selector.classification, self.lowering.lanes[selector.lane]
        raise AssertionError("the fidelity policy has no weighted lane")

    def check_weighted(self, total: int = WEIGHTED_REQUESTS) -> Counter:
        """A weighted lane's first attempts fall within 3 sigma of the core's shares."""
        self.mock.reset()
        intent, classification, lane = self.weighted_lane()
        results = self._send([(intent, classification)] * total)
        seen = attempts(self.mock, self.policy)
        first = Counter(seen[s.marker][0] for s in results if seen.get(s.marker))
        assert sum(first.values()) == total, (sum(first.values()), total)
        plan_shares = {arm.primary: arm.fraction for arm in lane.arms}
        # The core's own draw over the same request ids lands in the same band.
        core = Counter(
            expected(self.policy, intent, classification, s.marker).primary for s in results
        )
        assert not within_band(core, plan_shares, total), core
        problems = within_band(first, plan_shares, total)
        assert not problems, problems
        return first

    def check_failover(self, mode: str) -> None:
        """The primary's provider answers ``mode`` (503 or 429): the chain is walked in order."""
        checked = 0
        for selector in self.lowering.selectors:
            if selector.lane is None:
                continue
            lane = self.lowering.lanes[selector.lane]
            if len(lane.arms) != 1 or len(lane.arms[0].chain) < 3:
                continue
            chain = lane.arms[0].chain
            provider = self.policy.models[chain[0]].provider
            walk = []
            for model in chain:
                walk.append(model)
                if self.policy.models[model].provider != provider:
                    break
            if (
                len(walk) < 2
                or len(walk) == len(chain)
                and self.policy.models[walk[-1]].provider == provider
            ):
                continue
            self.mock.reset()
            self.mock[provider].mode = mode
            (sent,) = self._send([(selector.intent, selector.classification)])
            got = attempts(self.mock, self.policy).get(sent.marker, [])
            assert sent.status == 200 and got == walk, (
                f"{selector.intent}/{selector.classification} with {provider} answering {mode}: "
                f"expected {walk}, got {sent.status} {got}"
            )
            checked += 1
            if checked >= 3:
                break
        self.mock.reset()
        assert checked, "no lane with a chain across providers"

    def check_never_forbidden(self) -> None:
        """No attempt of any request went to a model its classification forbids."""
        seen = attempts(self.mock, self.policy, history=True)
        problems = []
        assert self.sent
        for sent in self.sent:
            allowed = self.policy.allowed_models(sent.classification)
            for model in seen.get(sent.marker, []):
                if model not in allowed:
                    problems.append(f"{sent.classification}: reached {model}")
        assert not problems, problems
