"""plan -> apply -> plan against the embedded store: the README's first command, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.reconcile.conftest import edit, run, set_split, write_policy

from routectl.store.sqlite import SqliteStore


def store_revision(workdir: Path) -> int:
    store = SqliteStore(workdir / ".routectl" / "gateway.db")
    try:
        return store.current_revision()
    finally:
        store.close()


def test_apply_then_plan_has_nothing_left(policy, workdir):
    first = run("apply", str(policy), "--auto-approve")
    assert first.exit_code == 0, first.output
    assert "Plan: 11 to add, 0 to change, 0 to destroy." in first.stdout
    assert "Apply complete" in first.stdout
    assert (workdir / ".routectl" / "gateway.db").exists()
    # Dependency order: providers before models before routes before the experiment.
    order = [line.split()[1] for line in first.stdout.splitlines() if line.startswith("  + ")]
    assert order.index("provider/openai") < order.index("model/gpt-4o")
    assert order.index("model/gpt-4o") < order.index("route/default")
    assert order.index("route/default") < order.index("experiment/try-mistral")

    again = run("plan", str(policy), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout


def test_one_weight_change_shows_only_that_field(policy):
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    set_split(policy, 90)

    plan = run("plan", str(policy), "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    changed = [line.strip() for line in plan.stdout.splitlines() if line.startswith("      ")]
    assert changed == ["spec.targets[0].weight: 95 -> 90", "spec.targets[1].weight: 5 -> 10"]
    assert "~ route/default" in plan.stdout
    assert "unchanged fields hidden" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout

    doc = json.loads(run("plan", str(policy), "--format", "json").stdout)
    assert doc["format_version"] == "1"
    (change,) = doc["resource_changes"]
    assert change["address"] == "route/default"
    assert change["actions"] == ["update"]
    assert change["changed_fields"] == [
        {"path": "spec.targets[0].weight", "before": 95, "after": 90, "sensitive": False},
        {"path": "spec.targets[1].weight", "before": 5, "after": 10, "sensitive": False},
    ]
    assert change["before"]["spec"]["targets"][0]["weight"] == 95
    assert change["after"]["spec"]["targets"][0]["weight"] == 90

    applied = run("apply", str(policy), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert run("plan", str(policy), "--detailed-exitcode").exit_code == 0


def test_second_apply_changes_nothing_and_says_so(policy, workdir):
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    revision = store_revision(workdir)
    second = run("apply", str(policy), "--auto-approve")
    assert second.exit_code == 0
    assert "Nothing to apply" in second.stdout
    assert store_revision(workdir) == revision
    as_json = run("apply", str(policy), "--auto-approve", "--format", "json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["summary"] == {
        "add": 0,
        "change": 0,
        "destroy": 0,
        "skipped": 0,
    }
    assert "Nothing to apply" in as_json.stderr


def test_formatting_order_and_defaults_are_not_changes(policy):
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    # Same meaning, other spelling: set order, explicit defaults, flow vs block style.
    edit(policy, "certifications: [soc2, iso27001]", "certifications: [iso27001, soc2, soc2]")
    edit(
        policy,
        "  jurisdiction: EU\n",
        "  jurisdiction: EU\n  hosting: hosted\n  timeoutSeconds: 60\n",
    )
    edit(policy, "strategy: weighted", "strategy: weighted\n  order: 100")
    assert run("plan", str(policy), "--detailed-exitcode").exit_code == 0


def test_every_example_policy_applies_and_converges(workdir):
    examples = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert examples, "no example policies"
    for example in examples:
        store = f"sqlite:///{workdir / (example.name + '.db')}"
        applied = run("apply", str(example), "--auto-approve", "--store", store)
        assert applied.exit_code == 0, f"{example.name}: {applied.output}"
        plan = run("plan", str(example), "--detailed-exitcode", "--store", store)
        assert plan.exit_code == 0, f"{example.name}: {plan.output}"


def test_deletes_go_bottom_up_and_no_delete_keeps_them(policy):
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    write_policy(policy, "")  # an empty policy would delete everything...
    (policy / "policy.yaml").write_text(
        "apiVersion: routectl.dev/v1\nkind: Tier\nmetadata: {name: frontier}\nspec: {rank: 2}\n"
    )
    plan = run("plan", str(policy), "--detailed-exitcode")
    assert plan.exit_code == 2
    order = [line.split()[1] for line in plan.stdout.splitlines() if line.startswith("  - ")]
    assert order.index("experiment/try-mistral") < order.index("route/default")
    assert order.index("route/default") < order.index("model/gpt-4o")
    assert order.index("model/gpt-4o") < order.index("provider/openai")

    kept = run("plan", str(policy), "--no-delete", "--detailed-exitcode")
    assert kept.exit_code == 0, kept.output
    assert "delete skipped: --no-delete" in kept.stdout


def test_protected_resources_are_never_deleted(policy):
    edit(policy, "metadata: {name: public}", "metadata: {name: public, protected: true}")
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    text = (policy / "policy.yaml").read_text()
    start = text.index("kind: Classification")
    end = text.index("---", start)
    (policy / "policy.yaml").write_text(
        text[:start] + "kind: Tier\nmetadata: {name: spare}\nspec: {rank: 9}\n" + text[end:]
    )
    plan = run("plan", str(policy), "--format", "json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert [c["address"] for c in doc["resource_changes"]] == ["tier/spare"]
    assert doc["skipped"] == [
        {
            "address": "classification/public",
            "action": "delete",
            "reason": "protected: routectl never deletes a protected resource",
            "foreign": False,
        }
    ]


def test_other_owners_resources_are_skipped_never_touched(policy, workdir):
    other = write_policy(
        workdir / "other",
        """
        apiVersion: routectl.dev/v1
        kind: Tier
        metadata: {name: frontier}
        spec: {rank: 7}
        """,
    )
    assert run("apply", str(other), "--auto-approve", "--owner", "team-b").exit_code == 0
    plan = run("plan", str(policy), "--format", "json")
    doc = json.loads(plan.stdout)
    assert "tier/frontier" not in [c["address"] for c in doc["resource_changes"]]
    (skip,) = doc["skipped"]
    assert skip["address"] == "tier/frontier" and "owned by team-b" in skip["reason"]
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    # team-b's tier survived our apply untouched.
    again = run("plan", str(other), "--owner", "team-b", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_target_and_exclude(policy):
    doc = json.loads(run("plan", str(policy), "--format", "json", "--target", "model/*").stdout)
    assert sorted(c["address"] for c in doc["resource_changes"]) == [
        "model/gpt-4o",
        "model/mistral-large",
        "model/mistral-small",
    ]
    doc = json.loads(
        run("plan", str(policy), "--format", "json", "--exclude", "Route/default").stdout
    )
    assert "route/default" not in [c["address"] for c in doc["resource_changes"]]
    assert len(doc["resource_changes"]) == 10


def test_markdown_for_pull_requests(policy):
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    edit(policy, "pricing: {input: 2.5, output: 10}", "pricing: {input: 3, output: 10}")
    md = run("plan", str(policy), "--format", "markdown", "--detailed-exitcode")
    assert md.exit_code == 2
    assert (
        "| ✏️ update | `model/gpt-4o` | `spec.pricing.input: 2.5 -> 3.0`<br>_19 unchanged"
        in md.stdout
    )
    assert "**Plan: 0 to add, 1 to change, 0 to destroy.**" in md.stdout


def test_load_errors_are_located_and_exit_1(policy, workdir):
    edit(policy, "jurisdiction: US", "jurisdiction: usa")
    for command in (["plan", "--detailed-exitcode"], ["apply", "--auto-approve"], ["drift"]):
        result = run(command[0], str(policy), *command[1:])
        assert result.exit_code == 1, result.output
        assert "policy.yaml:" in result.stderr and "jurisdiction" in result.stderr
        assert "Traceback" not in result.output
    assert not (workdir / ".routectl").exists() or store_revision(workdir) == 0


def test_apply_refuses_to_prompt_without_a_terminal(policy, workdir):
    result = run("apply", str(policy))
    assert result.exit_code == 1
    assert "refusing to ask for confirmation without a terminal; pass --auto-approve" in (
        result.stderr
    )
    assert store_revision(workdir) == 0
