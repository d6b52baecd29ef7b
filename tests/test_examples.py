"""The example policies: each loads cleanly, its policy tests pass through the CLI,
and it still shows the scenario it is named after."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.evaluator import plan
from routectl.core.policy import Policy, resolve
from routectl.core.policytest import reachable
from routectl.core.request import Request
from routectl.loader.yaml_source import load_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "policies"
NAMES = (
    "istanbul-bank",
    "munich-oem",
    "paris-insurer",
    "madrid-retailer",
    "milan-publisher",
    "prague-hospital",
    "riyadh-ministry",
    "baku-utility",
    "three-tier",
    "local-first",
)
SCHEMA_HEADER = "# yaml-language-server: $schema=../../../schemas/routectl.schema.json"
runner = CliRunner()


@cache  # loading is the slow part; every test only reads the result
def load(name: str) -> tuple[Policy, list]:
    result = load_paths([EXAMPLES / name])
    assert result.ok, [str(e) for e in result.errors]
    return resolve(d.doc for d in result.documents), result.documents


def test_every_example_directory_is_listed():
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_example_loads_cleanly_and_its_policy_tests_pass(name):
    result = runner.invoke(app, ["test", str(EXAMPLES / name), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 0
    assert report["passed"] >= 8, "each example pins its scenario with several cases"


@pytest.mark.parametrize("name", NAMES)
def test_example_is_documented_and_split_into_files(name):
    directory = EXAMPLES / name
    files = sorted(directory.glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_HEADER, path
    readme = (directory / "README.md").read_text(encoding="utf-8")
    assert f"routectl explain examples/policies/{name}" in readme
    assert "## What the tests pin down" in readme


@pytest.mark.parametrize("name", NAMES)
def test_example_uses_secret_references_real_urls_and_sourced_prices(name):
    policy, documents = load(name)
    for provider in policy.providers.values():
        assert provider.api_key_ref and re.match(r"^(env|file):", provider.api_key_ref)
        assert provider.base_url.startswith("https://")
    for doc in documents:
        if doc.kind == "Model":
            source = doc.doc.spec.pricing.source or ""
            assert re.search(r"20\d\d-\d\d", source), f"{doc.name}: pricing.source needs a date"


@pytest.mark.parametrize("name", NAMES)
def test_example_exercises_every_kind_of_policy_test_expectation(name):
    _, documents = load(name)
    cases = [c for d in documents if d.kind == "PolicyTest" for c in d.doc.spec.cases]
    expectations = [c.expect for c in cases]
    assert any(e.routes_to for e in expectations)
    assert any(e.never_routes_to for e in expectations)
    assert any(e.unroutable for e in expectations)
    assert any(e.fallbacks is not None for e in expectations)


def test_paris_has_exactly_one_eu_provider_serving_pii():
    policy, _ = load("paris-insurer")
    providers = {policy.models[m].provider for m in policy.allowed_models("pii")}
    assert providers == {"mistral"}
    assert policy.providers["mistral"].jurisdiction == "FR"


def test_madrid_primary_and_secondary_share_capabilities_and_fail_over_on_5xx():
    policy, _ = load("madrid-retailer")
    route = next(r for r in policy.routes if r.name == "storefront-assistant")
    primary = policy.models[route.targets[0].models[0]]
    secondary = policy.models[route.fallback_chain[0]]
    assert primary.provider != secondary.provider
    assert primary.capabilities == secondary.capabilities
    assert "5xx" in route.triggers


def test_milan_has_a_five_percent_live_experiment_and_a_shadow_one():
    policy, _ = load("milan-publisher")
    modes = {e.mode: e.fraction for e in policy.experiments.values()}
    assert modes["live"] == pytest.approx(0.05)
    assert "shadow" in modes
    rp = plan(policy, Request(intent="summarize", classification="published", request_id="x"))
    assert rp.experiment is not None and rp.experiment.primary == "mistral-small"
    assert {s.model for s in rp.shadows} == {"gemini-2.0-flash-milan", "claude-3-5-haiku"}


def test_riyadh_frontier_fallback_depends_on_the_classification():
    policy, _ = load("riyadh-ministry")
    frontier = {"gpt-4o-uaenorth", "gpt-4o-openai"}

    def reach(classification: str | None) -> set[str]:
        return reachable(plan(policy, Request(classification=classification, language="ar")))

    assert frontier <= reach("public")
    assert reach("internal") & frontier == {"gpt-4o-uaenorth"}
    assert not reach("restricted") & frontier
    assert not reach(None) & frontier


def test_baku_operations_only_reach_on_prem_open_weight_models():
    policy, _ = load("baku-utility")
    for classification in (*policy.classifications, None):
        rp = plan(policy, Request(intent="ops-agent", classification=classification))
        for name in reachable(rp):
            model = policy.models[name]
            assert model.hosting == "on-prem" and model.open_weight, name


def test_three_tier_has_a_weighted_split_and_a_cross_provider_chain():
    policy, _ = load("three-tier")
    assert set(policy.tiers) == {"lightweight", "standard", "capable"}
    weighted = [r for r in policy.routes if r.strategy == "weighted"]
    assert weighted
    route = weighted[0]
    providers = {policy.models[m].provider for m in route.fallback_chain}
    assert len(providers) >= 2
    ranks = [policy.models[m].tier_rank for m in route.fallback_chain]
    assert ranks == sorted(ranks), "the chain climbs the tiers"
