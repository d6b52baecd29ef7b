"""Fuzzing a live gateway: generated chat bodies, header sets and admin change sets.

Shared by the fast test (tests/hardening/test_fuzz_gateway.py) and the reliability
benchmark (benchmarks/bench_reliability.py). A :class:`Prober` sends each generated input
over HTTP and keeps tallies; it never asserts, so a run goes to the end and reports every
finding: 500s (each must be counted in /metrics and logged), tracebacks or canary
secrets in any answer, and requests whose classification forbids the US provider that
reached it anyway (the mock upstream records every body it gets).
"""

from __future__ import annotations

import json
import string
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PII_MARKER = "PII-MARKER-"
PROVIDER_CANARY = "sk-provider-canary-7731"  # GW_TEST_PROVIDER_KEY in the policy below
PUSHED_CANARY = "sk-pushed-canary-fz-4242"
APP_KEY = "key-app-canary-5512"
ADMIN_TOKEN = "admin-token-canary-9d8c"


def policy(mock_url: str) -> str:
    """Three DE providers, one US provider; pii may go to DE only."""
    docs = []
    for name, jurisdiction in (("p-a", "DE"), ("p-b", "DE"), ("p-us", "US")):
        docs.append(f"""
            kind: Provider
            metadata: {{name: {name}}}
            spec: {{baseUrl: "{mock_url}/{name}", jurisdiction: {jurisdiction},
                   credentials: {{apiKey: env:GW_TEST_PROVIDER_KEY}}, timeoutSeconds: 1}}
            """)
    for name, provider, price in (("m-a", "p-a", 3), ("m-b", "p-b", 2), ("m-us", "p-us", 1)):
        docs.append(f"""
            kind: Model
            metadata: {{name: {name}}}
            spec: {{provider: {provider}, upstreamModel: up-{name}, contextWindow: 100000,
                   maxOutputTokens: 4096, pricing: {{input: {price}, output: {price}}}}}
            """)
    docs += [
        """
        kind: Classification
        metadata: {name: pii}
        spec: {allow: {jurisdictions: [DE]}}
        """,
        """
        kind: Classification
        metadata: {name: public}
        spec: {allow: {jurisdictions: [DE, US]}}
        """,
        """
        kind: Intent
        metadata: {name: chat}
        spec: {default: true}
        """,
        """
        kind: Intent
        metadata: {name: code}
        spec: {detect: {keywords: [python, code]}}
        """,
        """
        kind: Consumer
        metadata: {name: app}
        spec: {team: web, apiKey: env:GW_TEST_APP_KEY}
        """,
        """
        kind: Consumer
        metadata: {name: public}
        spec: {anonymous: true, allow: {classifications: [public]}, intentSource: detected}
        """,
        """
        kind: Route
        metadata: {name: main}
        spec:
          order: 100
          strategy: cheapest
          targets: [{model: m-us}, {model: m-a}]
          fallback: {chain: [m-b, m-a]}
        """,
    ]
    texts = [textwrap.dedent(d).strip() for d in docs]
    return "\n---\n".join("apiVersion: routectl.dev/v1\n" + t for t in texts) + "\n"


# ----------------------------------------------------------------------------- strategies

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "", "x"])},
    optional={
        "content": st.one_of(
            _text,
            st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": _text}), max_size=3),
            _json,
        )
    },
)
chat_bodies = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"messages": st.lists(_message, max_size=4)},
        optional={
            "model": st.one_of(st.just("auto"), _text),
            "stream": st.one_of(st.booleans(), _json),
            "max_tokens": st.one_of(st.integers(-5, 10**12), _json),
            "max_completion_tokens": st.one_of(st.integers(-5, 10**6), _text),
            "metadata": st.one_of(
                st.dictionaries(
                    st.sampled_from(["intent", "classification", "language", "session", "x"]),
                    st.one_of(st.sampled_from(["chat", "code", "pii", "public", "nope"]), _json),
                    max_size=3,
                ),
                _json,
            ),
            "temperature": _json,
        },
    ),
)
# Raw bytes too: not every body is JSON.
raw_bodies = st.one_of(
    chat_bodies.map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=200),
    st.integers(1, 2000).map(lambda n: b'{"messages": ' + b"[" * n + b"]" * n + b"}"),
)

_header_value = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)
_header_names = st.sampled_from(
    [
        "authorization", "x-api-key", "x-request-id", "x-routectl-intent",
        "x-routectl-classification", "x-routectl-language", "x-routectl-session",
        "x-routectl-input-tokens", "x-routectl-metadata-team", "x-routectl-metadata-",
        "content-type", "accept", "x-forwarded-for", "host", "x-routectl-",
    ]
)  # fmt: skip
_header_values = st.one_of(
    _header_value,
    st.sampled_from(
        [
            f"Bearer {APP_KEY}",
            APP_KEY,
            "Bearer",
            "Bearer  ",
            "pii",
            "public",
            "chat",
            "code",
            "-1",
            "99999999999999999999",
            "application/json",
            "text/plain",
            "\t",
        ]
    ),  # fmt: skip
    st.integers(1, 80_000).map(lambda n: "v" * n),
)
header_sets = st.lists(st.tuples(_header_names, _header_values), max_size=8)

_KINDS = ["Tier", "Classification", "Intent", "Provider", "Model", "Consumer", "Route",
          "Experiment", "Nope"]  # fmt: skip
_spec_values = st.one_of(
    _json,
    st.sampled_from(
        [
            "env:ROUTECTL_ADMIN_TOKEN",
            "file:/etc/shadow",
            "env:HOME",
            "http://127.0.0.1:9/v1",
            "https://fz.invalid/v1",
            "DE",
            "US",
            "m-a",
            "p-a",
            "pii",
        ]
    ),  # fmt: skip
    st.dictionaries(st.sampled_from(["value", "fingerprint"]), _header_value, max_size=2),
)
_specs = st.one_of(
    _json,
    st.dictionaries(
        st.sampled_from(
            [
                "baseUrl",
                "jurisdiction",
                "credentials",
                "provider",
                "upstreamModel",
                "contextWindow",
                "maxOutputTokens",
                "pricing",
                "targets",
                "rank",
                "allow",
                "apiKey",
                "anonymous",
                "detect",
                "order",
                "fallback",
                "intentSource",
                "team",
            ]
        ),  # fmt: skip
        _spec_values,
        max_size=6,
    ),
)
_operation = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["create", "update", "delete", "upsert"]),
        "kind": st.sampled_from(_KINDS),
        # fz- names only: a valid change set never touches the served policy's resources.
        "name": st.one_of(
            st.from_regex(r"fz-[a-z0-9]{1,8}", fullmatch=True), st.just("fz-"), _text
        ),
    },
    optional={
        "resource": st.one_of(st.fixed_dictionaries({"spec": _specs}), _json),
        "expected_hash": _text,
    },
)
changesets = st.one_of(
    st.fixed_dictionaries(
        {
            "author": st.one_of(st.just("fuzz"), _text),
            "operations": st.lists(_operation, max_size=4),
        },
        optional={"summary": _json, "plan_hash": _json},
    ),
    _json,
)


# ----------------------------------------------------------------------------- the prober


@dataclass
class Prober:
    client: httpx.Client
    secrets: tuple[str, ...] = (PROVIDER_CANARY, PUSHED_CANARY, ADMIN_TOKEN)
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors_500: int = 0  # 500s answered (each must show in /metrics and the log)
    tracebacks: list[str] = field(default_factory=list)
    secrets_found: list[str] = field(default_factory=list)
    no_answer: list[str] = field(default_factory=list)
    unsendable: int = 0

    def _check(self, what: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code == 500:
            self.errors_500 += 1
        text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        if "Traceback" in text or 'File "' in text:
            self.tracebacks.append(f"{what}: {response.status_code}")
        for secret in self.secrets:
            if secret in text:
                self.secrets_found.append(f"{what}: {secret[:8]}…")

    def send(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        self.sent += 1
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.LocalProtocolError:
            self.unsendable += 1  # the client's HTTP library would not send it
            return None
        except httpx.HTTPError as exc:
            self.no_answer.append(f"{what}: {type(exc).__name__}")
            return None
        self._check(what, response)
        return response


def _with_marker(body: Any, headers: list[tuple[str, str]], n: int) -> Any:
    """pii requests carry a marker the US provider must never see."""
    declared = [v for k, v in headers if k == "x-routectl-classification"]
    if declared == ["pii"] and isinstance(body, dict) and isinstance(body.get("messages"), list):
        body = dict(
            body, messages=[*body["messages"], {"role": "user", "content": f"{PII_MARKER}{n}"}]
        )
    return body


def fuzz_chat(prober: Prober, examples: int, seed: int = 0) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=raw_bodies, authorized=st.booleans())
    def one(body: bytes, authorized: bool) -> None:
        headers = {"content-type": "application/json"}
        if authorized:
            headers["authorization"] = f"Bearer {APP_KEY}"
        prober.send("chat body", "POST", "/v1/chat/completions", content=body, headers=headers)

    one()


def fuzz_headers(prober: Prober, examples: int) -> None:
    counter = iter(range(10**9))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(headers=header_sets, body=chat_bodies, path=st.sampled_from(
        ["/v1/chat/completions"] * 6 + ["/v1/models", "/admin/v1/config", "/admin/v1/config/",
                                        "/metrics", "/healthz", "/nope"]))  # fmt: skip
    def one(headers: list[tuple[str, str]], body: Any, path: str) -> None:
        n = next(counter)
        body = _with_marker(body, headers, n)
        method = "POST" if path == "/v1/chat/completions" else "GET"
        content = json.dumps(body).encode() if method == "POST" else None
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        prober.send("headers", method, path, content=content, headers=raw)

    one()


def fuzz_admin(prober: Prober, examples: int) -> None:
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(changeset=changesets, if_match=st.one_of(st.none(), st.just("current"), _header_value))
    def one(changeset: Any, if_match: str | None) -> None:
        headers = dict(auth)
        if if_match == "current":
            health = prober.client.get("/healthz").json()
            headers["if-match"] = f'"{health["revision"]}"'
        elif if_match is not None:
            headers["if-match"] = if_match
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        content = json.dumps(changeset).encode()
        raw.append((b"content-type", b"application/json"))
        prober.send("changeset", "POST", "/admin/v1/changesets", content=content, headers=raw)

    one()


def sovereignty_violations(received_by_us_provider: list[dict[str, Any]]) -> int:
    return sum(PII_MARKER in json.dumps(body) for body in received_by_us_provider)


def metric_total(metrics_text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


ALPHABET = string.ascii_lowercase
