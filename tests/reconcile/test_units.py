"""The pure parts: dependency order, normalisation of live resources, field diffs, plan files."""

from __future__ import annotations

import json

import pytest

from routectl.core.state import Resource, fingerprint
from routectl.reconcile.diff import compute_changes, field_changes
from routectl.reconcile.normalize import LiveResource, canonical_live, comparable
from routectl.reconcile.order import RANK, apply_order
from routectl.reconcile.plan import OptionsDoc, PlanFileError, SourceDoc, build_plan, load_plan

ROUTE_SPEC = {"targets": [{"model": "a"}], "match": {"intents": ["b", "a"]}}


def live(resource: Resource, owner: str = "me") -> LiveResource:
    stored = Resource(resource.kind, resource.name, resource.spec, owner, resource.protected)
    return LiveResource(stored, "sha256:x", 1, "2026-01-01T00:00:00+00:00", "someone")


def test_dependencies_rank_before_dependents():
    assert RANK["Provider"] < RANK["Model"] < RANK["Route"] < RANK["Experiment"]
    assert RANK["Intent"] < RANK["Consumer"] < RANK["Route"]
    keys = sorted(
        [
            ("delete", "Provider", "p"),
            ("create", "Route", "r"),
            ("delete", "Route", "old"),
            ("update", "Model", "m"),
            ("create", "Provider", "q"),
        ],
        key=lambda a: apply_order(*a),
    )
    assert keys == [
        ("create", "Provider", "q"),
        ("update", "Model", "m"),
        ("create", "Route", "r"),
        ("delete", "Route", "old"),
        ("delete", "Provider", "p"),
    ]


def test_live_resource_without_defaults_or_order_is_canonicalised():
    raw = Resource("Route", "r", ROUTE_SPEC, "me")
    canonical = canonical_live(raw)
    assert canonical.spec["match"]["intents"] == ["a", "b"]
    assert canonical.spec["strategy"] == "priority" and canonical.spec["order"] == 100


def test_pushed_fingerprints_survive_canonicalisation():
    spec = {
        "baseUrl": "https://x.example",
        "jurisdiction": "DE",
        "credentials": {"apiKey": {"fingerprint": fingerprint("v")}},
    }
    canonical = canonical_live(Resource("Provider", "p", spec, "me"))
    assert canonical.spec["credentials"]["apiKey"] == {"fingerprint": fingerprint("v")}
    assert canonical.spec["timeoutSeconds"] == 60.0


def test_field_changes_name_paths_and_count_the_rest():
    before = {"spec": {"a": 1, "list": [{"w": 1}, {"w": 2}], "same": "x"}}
    after = {"spec": {"a": 2, "list": [{"w": 1}, {"w": 3}], "same": "x"}}
    changed, unchanged = field_changes(before, after)
    assert [(c.path, c.before, c.after) for c in changed] == [
        ("spec.a", 1, 2),
        ("spec.list[1].w", 2, 3),
    ]
    assert unchanged == 2


def test_a_secret_field_is_marked_sensitive_by_path():
    before = {"spec": {"credentials": {"apiKey": {"fingerprint": "sha256:1"}}}}
    after = {"spec": {"credentials": {"apiKey": {"fingerprint": "sha256:2"}}}}
    (change,), _ = field_changes(before, after, {("spec", "credentials", "apiKey")})
    assert change.sensitive and change.path == "spec.credentials.apiKey"


def test_foreign_owner_is_skipped_not_changed():
    want = Resource("Route", "r", canonical_live(Resource("Route", "r", ROUTE_SPEC)).spec, "me")
    theirs = live(Resource("Route", "r", {**want.spec, "order": 5}), owner="them")
    changes, skipped = compute_changes({"route/r": want}, {"route/r": theirs}, "me")
    assert changes == []
    assert skipped[0].wanted == "update" and "owned by them" in skipped[0].reason
    assert comparable(want)["owner"] == "me"


def _plan():
    return build_plan(
        gateway="sqlite:///x.db",
        base_revision=3,
        owner="me",
        source=SourceDoc(path="p"),
        desired_hash="sha256:0",
        options=OptionsDoc(),
        changes=[],
        skipped=[],
    )


def test_plan_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "a.plan"
    path.write_text(json.dumps(_plan().document()))
    assert load_plan(path).base_revision == 3

    path.write_text('{"format_version": "1", ')
    with pytest.raises(PlanFileError, match=r"a.plan:1:\d+: not a plan file \(invalid JSON"):
        load_plan(path)
    path.write_text(json.dumps(_plan().document() | {"format_version": "9"}))
    with pytest.raises(PlanFileError, match="format_version '9' is not supported"):
        load_plan(path)
    path.write_text(json.dumps({k: v for k, v in _plan().document().items() if k != "owner"}))
    with pytest.raises(PlanFileError, match="not a valid plan file at owner: Field required"):
        load_plan(path)
