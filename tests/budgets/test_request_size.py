"""Request-size routes decide the same in the gateway, simulate, explain and policy tests."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway.conftest import apply_policy, base_policy, join, route
from routectl.cli.main import app

SIZE_ROUTES = (
    route("long-input", order=10, match="{inputTokens: {min: 50001}}", targets="[{model: m-a}]"),
    route("long-output", order=20, match="{maxTokens: {min: 2000}}", targets="[{model: m-b}]"),
    route(
        "mid-total",
        order=30,
        match="{totalTokens: {min: 1000, max: 5000}}",
        targets="[{model: m-a}]",
    ),
    route("rest", order=40, targets="[{model: m-c}]"),
)
# (input tokens, max_tokens) -> expected route
CASES = {
    (50, 100): "rest",
    (50_001, 100): "long-input",
    (50_000, 100): "rest",  # inputTokens min is inclusive
    (50, 2000): "long-output",
    (900, 100): "mid-total",
    (4900, 100): "mid-total",
    (4901, 100): "rest",  # total 5001
}
runner = CliRunner()


def test_request_size_routes_agree_everywhere(store, start_gateway, mock, tmp_path):
    policy = join(base_policy(mock.url), *SIZE_ROUTES)
    policy_dir = tmp_path / "policy"
    revision = apply_policy(store, policy, policy_dir)
    gateway = start_gateway(store)
    gateway.await_revision(revision)

    # the gateway: the client's own input count (header) and max_tokens
    for (tokens_in, tokens_out), expected in CASES.items():
        response = gateway.chat(
            headers={"x-routectl-input-tokens": str(tokens_in)}, max_tokens=tokens_out
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-routectl-route"] == expected, (tokens_in, tokens_out)

    # explain
    for (tokens_in, tokens_out), expected in CASES.items():
        result = runner.invoke(
            app,
            [
                "explain",
                str(policy_dir),
                "--input-tokens",
                str(tokens_in),
                "--output-tokens",
                str(tokens_out),
                "--format",
                "json",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["route"] == expected

    # policy tests
    cases = "\n".join(
        f"    - {{name: c{i}, request: {{inputTokens: {a}, outputTokens: {b}}}, "
        f"expect: {{route: {expected}}}}}"
        for i, ((a, b), expected) in enumerate(CASES.items())
    )
    (policy_dir / "tests.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: PolicyTest\nmetadata: {name: sizes}\n"
        f"spec:\n  cases:\n{cases}\n"
    )
    result = runner.invoke(app, ["test", str(policy_dir)])
    assert result.exit_code == 0, result.output

    # simulate: one request per case
    traffic = tmp_path / "traffic.csv"
    rows = [f"2026-12-07 10:00:{i:02d},{a},{b}" for i, (a, b) in enumerate(CASES)]
    traffic.write_text("ts,input_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    result = runner.invoke(
        app, ["simulate", str(policy_dir), "--traffic", str(traffic), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    by_route = {r["name"]: round(r["requests"]) for r in json.loads(result.stdout)["by_route"]}
    expected_counts: dict[str, int] = {}
    for name in CASES.values():
        expected_counts[name] = expected_counts.get(name, 0) + 1
    assert by_route == expected_counts
