"""Every example policy serves through the gateway as written, whatever its providers speak.

Only what is the deployment's and not the policy's changes: base URLs point at
the mock upstream (one path prefix per provider, speaking that provider's
protocol and checking it), ``file:`` secrets at files of the test, ``env:``
secrets at test values. Each PolicyTest case of the example is then sent as a
request, and the gateway must answer with the model the core decides, from an
upstream that accepted the protocol.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gateway.conftest import AWS_CREDENTIALS, PROVIDER_KEY
from routectl.admin.service import AdminService
from routectl.core.evaluator import decide
from routectl.core.policy import resolve
from routectl.core.policytest import request_of
from routectl.core.request import Request
from routectl.core.state import desired_state, documents_from_resources
from routectl.detect import attach
from routectl.loader.yaml_source import load_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "providers.yaml").exists())
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_FILE = re.compile(r"file:(\S+)")


def deployable_copy(example: Path, into: Path, mock_url: str, service_account: Path, monkeypatch):
    """The example with base URLs and secret references pointing at this test's world."""
    shutil.copytree(example, into)
    secrets_dir = into.parent / f"{into.name}-secrets"
    secrets_dir.mkdir()
    providers = list(yaml.safe_load_all((into / "providers.yaml").read_text()))
    for doc in providers:
        spec, name = doc["spec"], doc["metadata"]["name"]
        type_ = spec.get("type", "openai-compatible")
        base = f"{mock_url}/{name}"
        if type_ == "vertex":
            location = re.match(r"https://([a-z0-9-]+)-aiplatform", spec["baseUrl"]).group(1)
            base += f"/v1/projects/mock-project/locations/{location}/endpoints/openapi"
        spec["baseUrl"] = base
        credentials = spec.get("credentials", {})
        ref = credentials.get("apiKey", "")
        if type_ == "bedrock" and ref.startswith("env:"):
            monkeypatch.setenv(ref[4:], AWS_CREDENTIALS)
        if type_ == "vertex":
            credentials["apiKey"] = f"file:{service_account}"
    (into / "providers.yaml").write_text(yaml.safe_dump_all(providers, sort_keys=False))
    keys: dict[str, str] = {}
    for path in into.glob("*.yaml"):
        text = path.read_text()
        for name in _ENV.findall(text):
            if name == "ANTHROPIC_VERSION":
                monkeypatch.setenv(name, "2023-06-01")
            elif name != "AWS_BEDROCK_API_KEY":
                monkeypatch.setenv(name, PROVIDER_KEY if "consumers" not in path.name else name)
        for original in set(_FILE.findall(text)) - {str(service_account)}:
            local = secrets_dir / original.strip("/").replace("/", "_")
            local.write_text(PROVIDER_KEY if "consumers" not in path.name else local.name)
            text = text.replace(f"file:{original}", f"file:{local}")
        path.write_text(text)
    for doc in yaml.safe_load_all((into / "consumers.yaml").read_text()):
        ref = doc["spec"].get("apiKey")
        if ref:
            keys[doc["metadata"]["name"]] = (
                ref[4:] if ref.startswith("env:") else Path(ref[5:]).read_text()
            )
    return keys


def apply_directory(store, directory: Path) -> int:
    result = load_paths([directory])
    assert result.ok, [str(e) for e in result.errors]
    wanted = desired_state(d.doc for d in result.documents)
    operations = [
        {
            "action": "create",
            "kind": r.kind,
            "name": r.name,
            "resource": {"spec": dict(r.spec), "owner": "git:test"},
        }
        for r in wanted.values()
    ]
    snapshot = store.snapshot()
    service = AdminService(store)
    return service.apply({"author": "test", "operations": operations}, snapshot.revision)[
        "revision"
    ]


def stored_policy(store):
    """The policy as the gateway resolves it: from the store's resources."""
    resources = (s.resource for s in store.snapshot().resources.values())
    policy = resolve(documents_from_resources(resources))
    if policy.semantic:  # intents found from the prompt's text, as the gateway finds them
        attach(policy)
    return policy


SERVED_PROVIDERS: dict[str, set[str]] = {}  # example -> providers that answered


@pytest.mark.parametrize("name", NAMES)
def test_example_serves_through_the_gateway(
    name, store, start_gateway, mock, tmp_path, service_account_file, monkeypatch
):
    """Each case is sent once per model of its chain, the models before it failing with 5xx
    (when the route falls back on 5xx): every reachable model answers, fallbacks included."""
    directory = tmp_path / name
    keys = deployable_copy(EXAMPLES / name, directory, mock.url, service_account_file, monkeypatch)
    revision = apply_directory(store, directory)
    gateway = start_gateway(store, breaker_failures=1_000_000)
    gateway.await_revision(revision)
    loaded = load_paths([directory])
    policy = stored_policy(store)
    anonymous = next((c.name for c in policy.consumers.values() if c.anonymous), None)
    cases = [
        case for d in loaded.documents if d.doc.kind == "PolicyTest" for case in d.doc.spec.cases
    ]
    answered: set[str] = set()
    for case in cases:
        request = request_of(case)
        if request.consumer is not None and request.consumer not in keys:
            continue  # the gateway knows a caller only by a key (or as the anonymous one)
        # A case without a consumer is sent as the anonymous consumer, else as the first
        # consumer the policy routes it for: the gateway serves no request without a caller.
        callers = [request.consumer] if request.consumer else ([anonymous] if anonymous else [])
        callers = callers or list(keys)
        decisions = [(c, decide(policy, replace(request, consumer=c))) for c in callers]
        consumer, expected = next(((c, d) for c, d in decisions if d.routable), decisions[0])
        headers = {
            "x-request-id": request.request_id,
            "x-routectl-input-tokens": str(request.input_tokens),
        }
        for feature in ("intent", "classification", "language"):
            if getattr(request, feature):
                headers[f"x-routectl-{feature}"] = getattr(request, feature)
        for key, value in request.metadata.items():
            headers[f"x-routectl-metadata-{key}"] = value
        where = f"{name}: {case.name}"
        chain = expected.chain() if expected.routable else (None,)
        for index, model in enumerate(chain):
            provider = policy.models[model].provider if model else None
            down = {policy.models[m].provider for m in chain[:index]}
            if index and ("5xx" not in expected.triggers or provider in down):
                continue
            for name_ in down:
                mock[name_].mode = "500"
            response = gateway.chat(
                key=keys.get(consumer),
                headers=headers,
                messages=[{"role": "user", "content": request.prompt or "hello"}],
                max_tokens=request.output_tokens,
            )
            for name_ in down:
                mock[name_].mode = "ok"
            if model is None:
                assert response.status_code in (400, 403), f"{where}: {response.text}"
                continue
            assert response.status_code == 200, f"{where} ({model}): {response.text}"
            assert response.headers["x-routectl-model"] == model, where
            assert response.json()["model"] == model, where
            answered.add(provider)
    assert mock.all_violations() == {}
    assert answered or not cases
    SERVED_PROVIDERS[name] = answered


def test_the_examples_reach_every_adapter():
    """Runs after the examples: their providers of every type answered."""
    if set(SERVED_PROVIDERS) != set(NAMES):
        pytest.skip("needs the example tests above it in this module to have run")
    types = {}
    for name in NAMES:
        for doc in yaml.safe_load_all((EXAMPLES / name / "providers.yaml").read_text()):
            served = doc["metadata"]["name"] in SERVED_PROVIDERS.get(name, ())
            types.setdefault(doc["spec"].get("type", "openai-compatible"), []).append(served)
    assert set(types) == {"openai-compatible", "azure-openai", "anthropic", "bedrock", "vertex"}
    assert {t for t, served in types.items() if any(served)} == set(types)


@pytest.mark.xfail(
    strict=True,
    reason="intent detection takes the first matching intent in definition order, which the "
    "store does not keep: routectl test (file order) and the gateway (store order) disagree",
)
def test_intent_detection_does_not_depend_on_where_the_policy_came_from(store):
    directory = EXAMPLES / "riyadh-ministry"
    apply_directory(store, directory)
    from_files = resolve(d.doc for d in load_paths([directory]).documents)
    request = Request(
        classification="internal",
        language="en",
        consumer="correspondence-office",
        input_tokens=1000,
        output_tokens=256,
        prompt="Please translate this memo into Arabic.",
        request_id="r",
    )
    assert decide(from_files, request).intent == decide(stored_policy(store), request).intent
