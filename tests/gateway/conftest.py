"""Gateway test fixtures: a mock upstream, policies applied through the admin service, gateways.

Configuration reaches a gateway the way ``routectl apply`` sends it: manifests
are loaded with routectl.loader, turned into resources with
core.state.desired_state and applied to the store by AdminService.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.mock_upstream import MockUpstream
from gateway.protocols import AWS_KEY_ID, AWS_SECRET, service_account
from gateway.servers import ServerThread, free_port
from routectl.admin.service import AdminService
from routectl.core.state import desired_state
from routectl.gateway.app import GatewaySettings, create_app
from routectl.gateway.egress import EgressPolicy
from routectl.loader.yaml_source import load_paths
from routectl.store.base import ConfigStore
from routectl.store.sqlite import SqliteStore

PROVIDER_KEY = "sk-provider-canary-7731"
APP_KEY = "key-app-canary-5512"

MODELS = {  # name: (provider, input price, output price)
    "m-a": ("p-a", 3.0, 15.0),
    "m-b": ("p-b", 1.0, 2.0),
    "m-c": ("p-c", 0.5, 1.0),
}


def base_policy(mock_url: str, timeout_s: float = 1.0) -> str:
    docs = []
    for provider in ("p-a", "p-b", "p-c"):
        docs.append(f"""
            kind: Provider
            metadata: {{name: {provider}}}
            spec:
              baseUrl: {mock_url}/{provider}
              jurisdiction: DE
              credentials: {{apiKey: env:GW_TEST_PROVIDER_KEY}}
              timeoutSeconds: {timeout_s}
            """)
    docs.append(f"""
        kind: Provider
        metadata: {{name: p-down}}
        spec:
          baseUrl: http://127.0.0.1:{free_port()}/v1
          jurisdiction: DE
        """)
    for name, (provider, price_in, price_out) in [*MODELS.items(), ("m-down", ("p-down", 1, 1))]:
        docs.append(f"""
            kind: Model
            metadata: {{name: {name}}}
            spec:
              provider: {provider}
              upstreamModel: upstream-{name}
              contextWindow: 100000
              maxOutputTokens: 4096
              pricing: {{input: {price_in}, output: {price_out}}}
            """)
    docs.append("""
        kind: Consumer
        metadata: {name: app}
        spec: {team: web, apiKey: env:GW_TEST_APP_KEY}
        """)
    return join(*docs)


def join(*docs: str) -> str:
    texts = [textwrap.dedent(doc).strip() for doc in docs]
    return "\n---\n".join(
        t if t.startswith("apiVersion") else "apiVersion: routectl.dev/v1\n" + t for t in texts
    )


def route(name: str = "main", order: int = 100, **spec: str) -> str:
    """A Route document; ``spec`` values are YAML flow text, e.g. targets='[{model: m-a}]'."""
    lines = "\n".join(f"  {key}: {value}" for key, value in spec.items())
    return f"kind: Route\nmetadata: {{name: {name}}}\nspec:\n  order: {order}\n{lines}"


def apply_policy(store: ConfigStore, text: str, directory: Path) -> int:
    """Make the store hold exactly the policy in ``text``; returns the new revision."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.yaml").write_text(text, encoding="utf-8")
    result = load_paths([directory])
    assert result.ok, [str(e) for e in result.errors]
    wanted = desired_state(d.doc for d in result.documents)
    snapshot = store.snapshot()
    operations = []
    for address, resource in wanted.items():
        action = "update" if address in snapshot.resources else "create"
        operations.append(
            {
                "action": action,
                "kind": resource.kind,
                "name": resource.name,
                "resource": {"spec": dict(resource.spec), "owner": "git:test"},
            }
        )
    for address, stored in snapshot.resources.items():
        if address not in wanted:
            operations.append(
                {"action": "delete", "kind": stored.resource.kind, "name": stored.resource.name}
            )
    service = AdminService(store)
    return service.apply({"author": "test", "operations": operations}, snapshot.revision)[
        "revision"
    ]


def read_log(path, count: int, timeout_s: float = 3.0) -> list[dict]:
    """Records appear within the flush interval; wait for ``count`` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


class GatewayHandle:
    def __init__(self, server: ServerThread, app) -> None:
        self.server = server
        self.url = server.url
        self.app = app
        self.client = httpx.Client(base_url=server.url, timeout=10)

    def chat(
        self, key: str | None = APP_KEY, headers: dict | None = None, **body
    ) -> httpx.Response:
        body.setdefault("model", "auto")
        body.setdefault("messages", [{"role": "user", "content": "hello there"}])
        all_headers = {"authorization": f"Bearer {key}"} if key else {}
        all_headers.update(headers or {})
        return self.client.post("/v1/chat/completions", json=body, headers=all_headers)

    @property
    def revision(self) -> int | None:
        return self.client.get("/healthz").json()["revision"]

    def await_revision(self, revision: int, timeout_s: float = 5.0) -> float:
        """Wait until the gateway serves ``revision``; returns the seconds it took."""
        started = time.monotonic()
        while (self.revision or 0) < revision:
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"gateway still at revision {self.revision}, not {revision}")
            time.sleep(0.02)
        return time.monotonic() - started


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("GW_TEST_PROVIDER_KEY", PROVIDER_KEY)
    monkeypatch.setenv("GW_TEST_APP_KEY", APP_KEY)


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockUpstream]:
    upstream = MockUpstream()
    with ServerThread(upstream.app) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream


@pytest.fixture
def mock(mock_server: MockUpstream) -> MockUpstream:
    mock_server.providers.clear()
    return mock_server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "gateway.db")
    yield db
    db.close()


@pytest.fixture
def policy_dir(tmp_path: Path):
    counter = iter(range(1_000_000))
    return lambda: tmp_path / f"policy-{next(counter)}"


@pytest.fixture
def configure(store, mock, policy_dir):
    """Apply the base policy plus extra documents to the test store."""

    def apply(*extra: str, target_store: ConfigStore | None = None) -> int:
        text = join(base_policy(mock.url), *extra)
        return apply_policy(target_store or store, text, policy_dir())

    return apply


EXAMPLE_SECRET_DIRS = ("/run/secrets", "/var/run/secrets", "/etc/routectl/secrets")


@pytest.fixture
def start_gateway(tmp_path: Path, tmp_path_factory):
    started: list[tuple[ServerThread, GatewayHandle]] = []

    def start(store: ConfigStore, log_path: Path | None = None, **settings) -> GatewayHandle:
        app = create_app(
            store,
            # Credential files the tests write (pytest's temporary directories) and the
            # examples' own secret directories.
            egress=EgressPolicy.create([tmp_path_factory.getbasetemp(), *EXAMPLE_SECRET_DIRS]),
            admin_token="admin-token",
            log_path=log_path,
            settings=GatewaySettings(**{"poll_interval_s": 0.1, **settings}),
        )
        server = ServerThread(app).__enter__()
        handle = GatewayHandle(server, app)
        started.append((server, handle))
        return handle

    yield start
    for server, handle in started:
        handle.client.close()
        server.__exit__(None, None, None)


@pytest.fixture
def gateway(store, start_gateway, tmp_path):
    """A gateway on the test store with a decision log at tmp_path/decisions.jsonl."""
    return start_gateway(store, log_path=tmp_path / "decisions.jsonl")


# --------------------------------------------------------------------------- every protocol

AWS_CREDENTIALS = json.dumps(
    {"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET, "region": "eu-central-1"}
)
# provider -> (type, model, upstream model id)
ADAPTER_MODELS = {
    "p-anth": ("anthropic", "m-anth", "claude-3-5-haiku-20241022"),
    "p-bed": ("bedrock", "m-bed", "anthropic.claude-3-haiku-20240307-v1:0"),
    "p-vtx": ("vertex", "m-vtx", "google/gemini-2.0-flash-001"),
    "p-az": ("azure-openai", "m-az", "gpt-4o-mini-deployment"),
}


@pytest.fixture(scope="session")
def service_account_file(mock_server, tmp_path_factory) -> Path:
    """A service account JSON key the mock's token endpoint trusts (token_uri: the mock)."""
    info, public_key = service_account(f"{mock_server.url}/p-vtx/token")
    mock_server.tokens.trust(info, public_key)
    path = tmp_path_factory.mktemp("vertex") / "service-account.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def adapter_documents(mock_url: str, service_account_path: Path) -> str:
    """Providers of every non-OpenAI type on the mock, one model each (m-anth, m-bed, ...)."""
    docs = []
    keys = {
        "anthropic": "env:GW_TEST_PROVIDER_KEY",
        "azure-openai": "env:GW_TEST_PROVIDER_KEY",
        "bedrock": "env:GW_TEST_AWS_CREDENTIALS",
        "vertex": f"file:{service_account_path}",
    }
    for provider, (type_, model, upstream) in ADAPTER_MODELS.items():
        base = f"{mock_url}/{provider}"
        if type_ == "vertex":
            base += "/v1/projects/mock-project/locations/europe-west8/endpoints/openapi"
        docs.append(f"""
            kind: Provider
            metadata: {{name: {provider}}}
            spec:
              type: {type_}
              baseUrl: {base}
              jurisdiction: DE
              credentials: {{apiKey: "{keys[type_]}"}}
              timeoutSeconds: 1.0
            """)
        docs.append(f"""
            kind: Model
            metadata: {{name: {model}}}
            spec:
              provider: {provider}
              upstreamModel: "{upstream}"
              capabilities: [chat, tools, vision, json]
              contextWindow: 100000
              maxOutputTokens: 4096
              pricing: {{input: 1.0, output: 2.0}}
            """)
    return join(*docs)


@pytest.fixture
def configure_adapters(store, mock, policy_dir, service_account_file, monkeypatch):
    """Like ``configure``, with the providers and models of ``adapter_documents`` added."""
    monkeypatch.setenv("GW_TEST_AWS_CREDENTIALS", AWS_CREDENTIALS)

    def apply(*extra: str) -> int:
        text = join(
            base_policy(mock.url), adapter_documents(mock.url, service_account_file), *extra
        )
        return apply_policy(store, text, policy_dir())

    return apply
