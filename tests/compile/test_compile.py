"""routectl compile: every example x every target, determinism, schemas, the CLI."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from routectl.cli.common import load_policy
from routectl.cli.compile_cmd import support_matrix_markdown
from routectl.cli.main import app
from routectl.compile import FEATURES, TARGETS, check, target
from routectl.compile.base import Support, lower, used_features
from routectl.core.evaluator import plan
from routectl.core.request import Request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples" / "policies").iterdir() if p.is_dir())
VENDOR = ROOT / "schemas" / "vendor"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_takes_a_position_on_every_feature(name):
    table = target(name).features
    assert sorted(table) == sorted(FEATURES)
    for level in table.values():
        assert level.support is Support.exact or level.note, "a limitation says why"


@functools.cache
def printed_matrix() -> dict:
    return json.loads(run("compile", "--support-matrix", "--format", "json").stdout)


def predicted(example: Path, name: str) -> set[tuple]:
    """What the support matrix (as the CLI prints it) says compiling ``example`` must report."""
    matrix = printed_matrix()
    loaded = load_policy([str(example)])
    out = set()
    for usage in used_features(loaded.documents, loaded.policy):
        support = matrix[usage.feature][name]["support"]
        if support != "exact":
            loc = usage.location
            out.add((loc.file, loc.line, loc.col, usage.feature, support))
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("name", list(TARGETS))
def test_every_example_compiles_or_fails_as_the_matrix_predicts(example, name, tmp_path):
    expect = predicted(example, name)
    out = tmp_path / "out"
    result = run(
        "compile",
        str(example),
        "--target",
        name,
        "--allow-approximate",
        "--format",
        "json",
        "-o",
        str(out),
    )
    doc = json.loads(result.stdout)
    found = {
        (f["file"], f["line"], f["col"], f["feature"], f["support"])
        for f in doc["errors"] + doc["warnings"]
    }
    assert found == expect
    errors = {f for f in expect if f[4] == "unsupported"}
    if errors:
        assert result.exit_code == 1
        assert not out.exists(), "nothing is written when compile fails"
    else:
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in out.iterdir()) == doc["files"]
    # Without --allow-approximate, approximations are errors too.
    strict = run("compile", str(example), "--target", name, "--format", "json")
    assert strict.exit_code == (1 if expect else 0)


def compiled(example: Path, name: str) -> dict[str, str] | None:
    result = run(
        "compile", str(example), "--target", name, "--allow-approximate", "--format", "json"
    )
    return json.loads(result.stdout)["files"] if result.exit_code == 0 else None


@pytest.fixture(scope="module")
def portable(tmp_path_factory) -> Path:
    """The three-tier example without what some targets cannot express at all."""
    from tests.compile.fidelity import fidelity_policy

    return fidelity_policy(tmp_path_factory.mktemp("portable") / "policy", "http://127.0.0.1:9")


def compilable(name: str, portable: Path) -> list[Path]:
    out = [e for e in EXAMPLES if compiled(e, name) is not None]
    assert compiled(portable, name) is not None
    return [*out, portable]


@pytest.mark.parametrize("name", list(TARGETS))
def test_output_is_deterministic_with_a_header(name, portable):
    example = compilable(name, portable)[0]
    first, second = compiled(example, name), compiled(example, name)
    assert first == second
    for text in first.values():
        assert "routectl" in text[:400] and "revision:" in text[:400] and str(example) in text[:400]


def test_compiled_lanes_match_the_evaluator():
    """The lowering is the core's plan: each selector's lane is the plan's route and primary."""
    for example in EXAMPLES:
        policy = load_policy([str(example)]).policy
        lowering = lower(policy)
        for selector in lowering.selectors:
            route_plan = plan(
                policy, Request(intent=selector.intent, classification=selector.classification)
            )
            if selector.lane is None:
                assert not route_plan.routable
                continue
            lane = lowering.lanes[selector.lane]
            assert lane.route == route_plan.route
            assert {a.primary for a in route_plan.arms} <= {a.primary for a in lane.arms}
            allowed = policy.allowed_models(selector.classification)
            assert set(lane.models) <= allowed


@functools.cache
def _crd_validator(kind_file: str) -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load((VENDOR / "envoy-ai-gateway-v1.1" / kind_file).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    return jsonschema.Draft202012Validator(version["schema"]["openAPIV3Schema"])


CRDS = {
    "AIGatewayRoute": "aigateway.envoyproxy.io_aigatewayroutes.yaml",
    "AIServiceBackend": "aigateway.envoyproxy.io_aiservicebackends.yaml",
    "BackendSecurityPolicy": "aigateway.envoyproxy.io_backendsecuritypolicies.yaml",
}


def test_envoy_ai_gateway_output_validates_against_the_crds(portable):
    validated = 0
    for example in compilable("envoy-ai-gateway", portable):
        text = compiled(example, "envoy-ai-gateway")["envoy-ai-gateway.yaml"]
        for doc in yaml.safe_load_all(text):
            if doc["apiVersion"].startswith("aigateway.envoyproxy.io/"):
                _crd_validator(CRDS[doc["kind"]]).validate(doc)
                validated += 1
    assert validated
    broken = {
        "apiVersion": "aigateway.envoyproxy.io/v1beta1",
        "kind": "AIServiceBackend",
        "metadata": {"name": "x"},
        "spec": {"schema": {"name": "OpenAI"}},
    }
    with pytest.raises(jsonschema.ValidationError):
        _crd_validator(CRDS["AIServiceBackend"]).validate(broken)


def _closed(value, table, where: str) -> None:
    """``value`` uses only the fields ``table`` names (None: any value)."""
    if table is None:
        return
    if isinstance(value, list):
        for item in value:
            _closed(item, table, where + "[]")
        return
    assert isinstance(value, dict), where
    for key, item in value.items():
        assert key in table, f"{where}.{key} is not an ai-proxy-advanced field"
        _closed(item, table[key] if isinstance(table, dict) else None, f"{where}.{key}")


def test_kong_output_validates_against_deck_and_the_plugin_fields(portable):
    from routectl.compile.kong import AI_PROXY_ADVANCED_FIELDS

    schema = json.loads((VENDOR / "kong-decK" / "kong_json_schema.json").read_text())
    for example in compilable("kong", portable):
        doc = yaml.safe_load(compiled(example, "kong")["kong.yaml"])
        jsonschema.Draft4Validator(schema).validate(doc)
        for service in doc["services"]:
            for route in service["routes"]:
                for plugin in route["plugins"]:
                    if plugin["name"] == "ai-proxy-advanced":
                        _closed(
                            plugin["config"],
                            {
                                k: v if isinstance(v, dict) else None
                                for k, v in AI_PROXY_ADVANCED_FIELDS.items()
                            }
                            | {"balancer": dict.fromkeys(AI_PROXY_ADVANCED_FIELDS["balancer"])},
                            "config",
                        )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(
            {"_format_version": "3.0", "services": [{"nme": "x"}]}
        )


def test_readme_support_matrix_is_generated():
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- support-matrix:begin -->\n(.*?)<!-- support-matrix:end -->", readme, re.S
    )
    assert block, "README.md has no generated support matrix"
    assert block.group(1) == support_matrix_markdown(), (
        "regenerate it: routectl compile --support-matrix"
    )


def test_cli_usage_errors_exit_2():
    assert run("compile", str(EXAMPLES[0]), "--target", "nginx").exit_code == 2
    assert run("compile", "--target", "envoy").exit_code == 2
    missing = run("compile", "/no/such/policy", "--target", "envoy")
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_unsupported_feature_error_is_located(tmp_path):
    example = next(e for e in EXAMPLES if e.name == "three-tier")
    result = run("compile", str(example), "--target", "envoy", "--allow-approximate")
    assert result.exit_code == 1
    assert re.search(
        r"routes\.yaml:\d+:\d+: envoy cannot express match\.teams \(Route support-drafts\)",
        result.output,
    )


def test_lint_target_reports_what_the_target_cannot_express():
    example = next(e for e in EXAMPLES if e.name == "three-tier")
    result = run("lint", str(example), "--target", "envoy", "--format", "json")
    doc = json.loads(result.stdout)
    loaded = load_policy([str(example)])
    expect = {
        (f.usage.feature, f.usage.location.line)
        for f in check(loaded.documents, loaded.policy, "envoy")
    }
    got = {(f["feature"], f["line"]) for f in doc["compile"]["envoy"]}
    assert got == expect
    assert result.exit_code == 1  # match.teams cannot be expressed at all


def test_envoy_validates_every_compiled_example(tmp_path, portable):
    from tests.compile.conftest import envoy_binary

    binary = envoy_binary()
    for example in compilable("envoy", portable):
        config = tmp_path / f"{example.name}.yaml"
        config.write_text(compiled(example, "envoy")["envoy.yaml"])
        check_run = subprocess.run(
            [binary, "--mode", "validate", "-c", config], capture_output=True, text=True
        )
        assert check_run.returncode == 0, check_run.stdout[-2000:]


def test_an_unknown_intent_routed_unlike_a_missing_one_is_reported(tmp_path):
    """Gateways select a lane for an unknown intent as for a missing one (the default
    intent); when the core routes the two differently, compile says so, located."""
    import shutil

    policy = tmp_path / "policy"
    shutil.copytree(next(e for e in EXAMPLES if e.name == "three-tier"), policy)
    routes = policy / "routes.yaml"
    routes.write_text(
        routes.read_text().replace(
            "  order: 100\n  match:\n    classifications: [internal, public]",
            "  order: 100\n  match:\n    intents: [chat]\n    classifications: [internal, public]",
        )
    )
    result = run("compile", str(policy), "--target", "litellm", "--format", "json")
    features = {(f["feature"], Path(f["file"]).name) for f in json.loads(result.stdout)["errors"]}
    assert ("intent.unknown", "intents.yaml") in features
    plain = run("compile", str(EXAMPLES[-1]), "--target", "litellm", "--format", "json")
    assert "intent.unknown" not in {f["feature"] for f in json.loads(plain.stdout)["errors"]}


def test_unroutable_requests_reach_no_upstream_on_kong_and_envoy_ai_gateway(tmp_path):
    """Without the catch-all route, unclassified requests are unroutable: header-matching
    targets must stop them rather than let a less specific rule route them."""
    import shutil

    policy = tmp_path / "policy"
    shutil.copytree(next(e for e in EXAMPLES if e.name == "three-tier"), policy)
    routes = policy / "routes.yaml"
    docs = routes.read_text().split("\n---\n")
    routes.write_text("\n---\n".join(d for d in docs if "zero-retention" not in d))
    lowering = lower(load_policy([str(policy)]).policy)
    blocked = {(s.intent, s.classification) for s in lowering.selectors if s.lane is None}
    assert blocked

    files = target("envoy-ai-gateway").render(lowering, _header())
    seen = set()
    for doc in yaml.safe_load_all(files["envoy-ai-gateway.yaml"]):
        if doc["kind"] == "AIGatewayRoute":
            _crd_validator(CRDS["AIGatewayRoute"]).validate(doc)
            for rule in doc["spec"]["rules"]:
                if rule["backendRefs"][0]["name"] == "routectl-unroutable":
                    values = {
                        h["name"]: h["value"] for m in rule["matches"] for h in m.get("headers", [])
                    }
                    seen.add(
                        (values.get("x-routectl-intent"), values.get("x-routectl-classification"))
                    )
    assert seen == blocked

    kong = yaml.safe_load(target("kong").render(lowering, _header())["kong.yaml"])
    terminated = [
        s for s in kong["services"] if s["routes"][0]["plugins"][0]["name"] == "request-termination"
    ]
    assert len(terminated) == len(blocked)


def _header():
    from routectl.compile.target import Header

    return Header("policy", "none", "test")
