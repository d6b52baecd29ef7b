"""Differential test: a live ``routectl gateway serve`` against the core's own prediction.

Generated policies (every provider adapter, tiers, the three strategies,
fallback chains with random triggers, shadows, live and shadow experiments,
aliases, rpm limits) times generated requests (intents given or detected,
route metadata, sessions, pinned models and aliases, images, tools, JSON mode)
times scenarios (a provider down, a provider answering 429, models over their
rpm). Each request goes through the gateway process to mock upstreams that
check each protocol, and its decision log record must match, field by field,
what the core predicts for it: ``decide`` (what ``routectl explain`` prints)
for the route, arm, primary, fallbacks and shadows, then the core's failover
(``next_step``, what simulate's legs follow) over the scenario's outcomes for
the path of attempts and the answering model. The requests answered at the
first attempt outside the outage and 429 scenarios (pins and body needs
included) are also replayed with ``routectl simulate`` from the gateway's
own log, which must put every one on the model the gateway used.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from gateway.conftest import (
    ADAPTER_MODELS,
    APP_KEY,
    AWS_CREDENTIALS,
    PROVIDER_KEY,
    apply_policy,
    join,
    read_log,
)
from gateway.mock_upstream import MockUpstream
from gateway.protocols import service_account
from gateway.servers import ServerThread, free_port
from routectl.core.evaluator import decide
from routectl.core.failover import Action, Outcome, OutcomeKind, next_step
from routectl.core.policy import resolve
from routectl.core.request import Request, refused_as_forbidden
from routectl.loader.yaml_source import load_paths
from routectl.store.sqlite import SqliteStore
from simulate.helpers import simulate_json

POLICIES = int(os.environ.get("DIFF_POLICIES", 8))
REQUESTS = int(os.environ.get("DIFF_REQUESTS", 260))  # per policy: 2,080 cases
PIXEL = "data:image/png;base64,iVBORw0KGgo="
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
TRIGGERS = ["429", "5xx", "timeout", "connection-error", "context-length"]
# provider -> type: two OpenAI-compatible, and each other adapter once
PROVIDERS = {"oa-1": "openai-compatible", "oa-2": "openai-compatible"} | {
    p: t for p, (t, _, _) in ADAPTER_MODELS.items()
}


def generate_policy(rng: random.Random, mock_url: str, service_account_path: Path) -> str:
    docs = ["kind: Tier\nmetadata: {name: small}\nspec: {rank: 1}"]
    docs.append("kind: Tier\nmetadata: {name: large}\nspec: {rank: 2}")
    keys = {
        "bedrock": "env:GW_DIFF_AWS",
        "vertex": f"file:{service_account_path}",
    }
    for provider, type_ in PROVIDERS.items():
        base = f"{mock_url}/{provider}"
        if type_ == "vertex":
            base += "/v1/projects/mock-project/locations/europe-west8/endpoints/openapi"
        limits = f"{{rpm: {rng.randint(4, 12)}}}" if rng.random() < 0.2 else "{}"
        docs.append(
            f"kind: Provider\nmetadata: {{name: {provider}}}\nspec:\n  type: {type_}\n"
            f"  baseUrl: {base}\n  jurisdiction: DE\n"
            f'  credentials: {{apiKey: "{keys.get(type_, "env:GW_TEST_PROVIDER_KEY")}"}}\n'
            f"  rateLimits: {limits}\n  timeoutSeconds: 2"
        )
    models = []
    for index, provider in enumerate([*PROVIDERS, *rng.sample(list(PROVIDERS), 3)]):
        name = f"m{index}"
        models.append(name)
        caps = ["chat"] + [c for c in ("vision", "tools", "json") if rng.random() < 0.6]
        limits = f"{{rpm: {rng.randint(3, 10)}}}" if rng.random() < 0.25 else "{}"
        aliases = f"[{name}-alias]" if rng.random() < 0.5 else "[]"
        docs.append(
            f"kind: Model\nmetadata: {{name: {name}}}\nspec:\n  provider: {provider}\n"
            f"  upstreamModel: up-{name}\n  tier: {rng.choice(['small', 'large'])}\n"
            f"  aliases: {aliases}\n  capabilities: [{', '.join(caps)}]\n"
            f"  contextWindow: {rng.choice([8000, 32000, 128000])}\n  maxOutputTokens: 4096\n"
            f"  pricing: {{input: {rng.randint(1, 30) / 10}, output: {rng.randint(1, 60) / 10}}}\n"
            f"  rateLimits: {limits}"
        )
    docs.append("kind: Intent\nmetadata: {name: code}\nspec: {detect: {keywords: [python]}}")
    docs.append("kind: Intent\nmetadata: {name: chat}\nspec: {default: true}")
    docs.append(
        "kind: Consumer\nmetadata: {name: app}\nspec: {team: web, apiKey: env:GW_TEST_APP_KEY}"
    )
    routes = [("gold", 10, "{metadata: {plan: gold}}"), ("code", 20, "{intents: [code]}")]
    routes.append(("main", 100, "{}"))
    for name, order, match in routes:
        strategy = rng.choice(["priority", "cheapest", "weighted"])
        targets = []
        for _ in range(rng.randint(1, 3)):
            target = (
                f"tier: {rng.choice(['small', 'large'])}"
                if rng.random() < 0.3
                else f"model: {rng.choice(models)}"
            )
            weight = f", weight: {rng.randint(1, 9) * 10}" if strategy == "weighted" else ""
            targets.append(f"{{{target}{weight}}}")
        chain = rng.sample(models, rng.randint(0, 3))
        on = sorted(rng.sample(TRIGGERS, rng.randint(1, 4)))
        shadows = (
            f"[{{model: {rng.choice(models)}, percent: {rng.choice([30, 100])}}}]"
            if rng.random() < 0.5
            else "[]"
        )
        docs.append(
            f"kind: Route\nmetadata: {{name: {name}}}\nspec:\n  order: {order}\n"
            f"  match: {match}\n  strategy: {strategy}\n  targets: [{', '.join(targets)}]\n"
            f"  fallback: {{chain: [{', '.join(chain)}], on: [{', '.join(map(repr, on))}]}}\n"
            f"  shadows: {shadows}\n  stickyBy: {rng.choice(['request_id', 'session'])}"
        )
    for index, (mode, percent) in enumerate([("live", 30), ("shadow", 40)]):
        docs.append(
            f"kind: Experiment\nmetadata: {{name: exp-{index}}}\nspec:\n"
            f"  route: {rng.choice([r[0] for r in routes])}\n  candidate: {rng.choice(models)}\n"
            f"  percent: {percent}\n  mode: {mode}\n  stickyBy: request_id"
        )
    return join(*docs)


class Gateway:
    """``routectl gateway serve`` as a process, on a store with the policy applied."""

    def __init__(self, store_path: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "routectl.cli.main", "gateway", "serve",
            "--port", str(self.port), "--store", f"sqlite:///{store_path}",
            "--log", str(log_path), "--insecure-local",
            "--breaker-failures", "1000000", "--shadow-concurrency", "100000",
            # the vertex service account file lives in pytest's temporary directories
            "--secrets-dir", str(store_path.parent.parent),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.client = httpx.Client(base_url=self.url, timeout=20)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.get("/healthz")
                return
            except httpx.TransportError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                assert time.monotonic() < deadline, "gateway did not come up"
                time.sleep(0.1)

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=20)
        assert b"Traceback" not in stderr, stderr.decode()[-3000:]


def generate_request(rng: random.Random, policy, n: int, plain: bool) -> dict:
    """What to send, and the scenario it is sent in."""
    case: dict = {
        "request_id": f"{'plain' if plain else 'case'}-{n}",
        "headers": {},
        "body": {"model": "auto", "messages": [{"role": "user", "content": "hello there"}]},
        "down": None,
        "limited_upstream": None,
    }
    headers, body = case["headers"], case["body"]
    text = "a python question" if rng.random() < 0.4 else "hello there"
    if not plain:  # long prompts: the context windows and the cost order come into play
        text += " lorem" * (rng.choice([100, 3000, 9000]) * 4 // 6)
    body["messages"][0]["content"] = text
    if rng.random() < 0.3:
        headers["x-routectl-metadata-plan"] = "gold"
    if rng.random() < 0.5:
        headers["x-routectl-session"] = f"s-{rng.randint(1, 20)}"
    # Routed on the gateway's own input estimate, which the mock reports back as usage,
    # so the log holds the tokens the decision was made with.
    body["max_tokens"] = rng.choice([64, 512])
    if plain:
        return case
    roll = rng.random()
    if roll < 0.15:
        names = sorted(policy.model_names)
        body["model"] = rng.choice([*names, "no-such-model"])
    elif roll < 0.25:
        body["messages"][0]["content"] = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": PIXEL}},
        ]
    elif roll < 0.35:
        body["tools"] = [TOOL]
    elif roll < 0.40:
        body["response_format"] = {"type": "json_object"}
    scenario = rng.random()
    if scenario < 0.2:
        case["down"] = rng.choice(list(PROVIDERS))
    elif scenario < 0.3:
        case["limited_upstream"] = rng.choice(list(PROVIDERS))
    return case


def expected_request(case: dict) -> Request:
    headers, body = case["headers"], case["body"]
    content = body["messages"][0]["content"]
    requires = set()
    if isinstance(content, list):
        requires.add("vision")
    if body.get("tools"):
        requires.add("tools")
    if body.get("response_format"):
        requires.add("json")
    prompt = content if isinstance(content, str) else content[0]["text"]
    metadata = (
        {"plan": headers["x-routectl-metadata-plan"]}
        if "x-routectl-metadata-plan" in headers
        else {}
    )
    return Request(
        consumer="app",
        input_tokens=len(prompt) // 4 + 1,
        output_tokens=body["max_tokens"],
        metadata=metadata,
        request_id=case["request_id"],
        session=headers.get("x-routectl-session"),
        prompt=prompt,
        requires=frozenset(requires),
        model=None if body["model"] == "auto" else body["model"],
    )


class Windows:
    """rpm in fixed clock minutes, counted independently of the gateway's limiter."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.counts: Counter = Counter()

    def admit(self, model: str, minute: int) -> bool:
        info = self.policy.models[model]
        provider = self.policy.providers[info.provider]
        scopes = [
            (scope, name, rpm)
            for scope, name, rpm in (("m", model, info.rpm), ("p", provider.name, provider.rpm))
            if rpm
        ]
        if any(self.counts[(s, n, minute)] + 1 > rpm for s, n, rpm in scopes):
            return False
        for s, n, _ in scopes:
            self.counts[(s, n, minute)] += 1
        return True


def expected_path(policy, decision, case: dict, windows: Windows, minute: int):
    """The attempts (model, status) and the answering model, by the core's failover."""
    chain = decision.chain()
    attempts = []
    index = 0
    while True:
        model = chain[index]
        provider = policy.models[model].provider
        if not windows.admit(model, minute):
            outcome = Outcome(OutcomeKind.rate_limited, 429)
        elif provider == case["down"]:
            status = (
                503
                if PROVIDERS[provider] == "bedrock"
                else (529 if PROVIDERS[provider] == "anthropic" else 500)
            )
            outcome = Outcome(OutcomeKind.server_error, status)
        elif provider == case["limited_upstream"]:
            outcome = Outcome(OutcomeKind.rate_limited, 429)
        else:
            outcome = Outcome(OutcomeKind.answered, 200)
        attempts.append((model, outcome.status))
        step = next_step(chain, decision.triggers, index, outcome)
        if step.action is Action.answer:
            return attempts, (model if outcome.status == 200 else None), outcome.status
        if step.action is Action.fail:
            return attempts, None, 502
        index = step.index


def minute_of(ts: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() // 60)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    mock = MockUpstream(PROVIDER_KEY)
    mock.echo_usage = True
    with ServerThread(mock.app) as server:
        mock.url = server.url  # type: ignore[attr-defined]
        info, public_key = service_account(f"{server.url}/vertex/token")
        mock.tokens.trust(info, public_key)
        path = tmp_path_factory.mktemp("diff-sa") / "sa.json"
        path.write_text(json.dumps(info))
        yield mock, path


def test_gateway_simulate_and_explain_agree_on_every_generated_case(
    upstream, tmp_path, monkeypatch
):
    mock, sa_path = upstream
    monkeypatch.setenv("GW_TEST_PROVIDER_KEY", PROVIDER_KEY)
    monkeypatch.setenv("GW_TEST_APP_KEY", APP_KEY)
    monkeypatch.setenv("GW_DIFF_AWS", AWS_CREDENTIALS)
    monkeypatch.delenv("ROUTECTL_ADMIN_TOKEN", raising=False)
    rng = random.Random(20261207)
    cases_total = 0
    disagreements: list[str] = []
    adapters_answered: Counter = Counter()
    for number in range(POLICIES):
        directory = tmp_path / f"policy-{number}"
        text = generate_policy(rng, mock.url, sa_path)
        store = SqliteStore(tmp_path / f"gateway-{number}.db")
        apply_policy(store, text, directory)
        store.close()
        loaded = load_paths([directory])
        assert loaded.ok, [str(e) for e in loaded.errors]
        policy = resolve(d.doc for d in loaded.documents)
        log = tmp_path / f"decisions-{number}.jsonl"
        gateway = Gateway(tmp_path / f"gateway-{number}.db", log)
        sent: list[dict] = []
        try:
            for n in range(REQUESTS):
                case = generate_request(rng, policy, n, plain=n % 3 == 0)
                for name in PROVIDERS:
                    mock[name].mode = "ok"
                if case["down"]:
                    mock[case["down"]].mode = "500"
                if case["limited_upstream"]:
                    mock[case["limited_upstream"]].mode = "429"
                response = gateway.client.post(
                    "/v1/chat/completions",
                    json=case["body"],
                    headers={
                        "authorization": f"Bearer {APP_KEY}",
                        "x-request-id": case["request_id"],
                        **case["headers"],
                    },
                )
                case["status"] = response.status_code
                sent.append(case)
        finally:
            gateway.stop()
        records = {r["request_id"]: r for r in read_log(log, len(sent))}
        windows = Windows(policy)
        plain_ids = []
        for case in sent:
            cases_total += 1
            record = records[case["request_id"]]
            decision = decide(policy, expected_request(case))
            where = f"policy {number} {case['request_id']}"
            if not decision.routable:
                code = decision.unroutable_code
                want = 403 if refused_as_forbidden(code) else 400
                got = (record["route"], record["model"], record["status"], case["status"])
                if got != (decision.route, None, want, want):
                    disagreements.append(f"{where}: unroutable {code}, gateway {got}")
                continue
            attempts, model, status = expected_path(
                policy, decision, case, windows, minute_of(record["ts"])
            )
            expected = {
                "route": decision.route,
                "arm": decision.arm if model else None,
                "model": model,
                "status": status,
                "attempts": attempts,
                "shadows": sorted(decision.shadows),
            }
            actual = {
                "route": record["route"],
                "arm": record["arm"],
                "model": record["model"],
                "status": record["status"],
                "attempts": [(a["model"], a["status"]) for a in record["attempts"]],
                "shadows": sorted(record["shadows"]),
            }
            if expected != actual or case["status"] != status:
                disagreements.append(f"{where}: core {expected}, gateway {actual}")
            if model:
                adapters_answered[PROVIDERS[policy.models[model].provider]] += 1
            admitted = [a["status"] for a in record["attempts"]] == [200]
            if not (case["down"] or case["limited_upstream"]) and admitted:
                plain_ids.append(case["request_id"])
        # simulate replays the plain requests the gateway admitted, from its own log.
        plain = tmp_path / f"plain-{number}.jsonl"
        plain.write_text(
            "".join(json.dumps(records[i]) + "\n" for i in plain_ids), encoding="utf-8"
        )
        report = simulate_json(directory, "--traffic", plain)
        predicted = {m["model"]: m["requests"] for m in report["by_model"]}
        used = Counter(records[i]["model"] for i in plain_ids)
        if predicted != dict(used):
            disagreements.append(
                f"policy {number}: simulate {predicted} of {report['requests']}, "
                f"gateway {dict(used)} of {len(plain_ids)} ({plain})"
            )
    assert mock.all_violations() == {}
    assert disagreements == [], f"{len(disagreements)} of {cases_total}:\n" + "\n".join(
        disagreements[:20]
    )
    assert cases_total >= 2000
    assert set(adapters_answered) == set(PROVIDERS.values()), adapters_answered
