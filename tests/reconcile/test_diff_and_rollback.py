"""`routectl diff` between git refs (no gateway), and rollback with `apply --ref`."""

from __future__ import annotations

import json

import git
from tests.reconcile.conftest import edit, run, set_split


def commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add(A=True)
    repo.index.commit(message)
    return repo.head.commit.hexsha


def make_repo(workdir, policy) -> git.Repo:
    repo = git.Repo.init(workdir)
    (workdir / ".gitignore").write_text(".routectl/\n*.plan\n")
    with repo.config_writer() as config:
        config.set_value("user", "name", "test").set_value("user", "email", "t@example.invalid")
    commit_all(repo, "first policy")
    repo.create_tag("v1")
    return repo


def test_semantic_diff_between_refs_and_the_working_tree(policy, workdir):
    repo = make_repo(workdir, policy)
    set_split(policy, 90)
    edit(policy, "pricing: {input: 2.5, output: 10}", "pricing: {input: 3.0, output: 10}")
    edit(policy, "  jurisdiction: EU\n", "  jurisdiction: US\n")
    edit(policy, "fallback: {chain: [mistral-small]}", "fallback: {chain: [mistral-small, gpt-4o]}")
    commit_all(repo, "shift traffic")
    edit(policy, "percent: 10}", "percent: 25}")  # uncommitted: the working tree

    committed = run("diff", str(policy), "--base", "v1", "--head", "HEAD", "--detailed-exitcode")
    assert committed.exit_code == 2, committed.output
    lines = committed.stdout.splitlines()
    for expected in (
        "~ route default: weight gpt-4o 95% -> 90%",
        "~ route default: weight mistral-large 5% -> 10%",
        "~ route default: fallback chain [mistral-small] -> [mistral-small, gpt-4o]",
        "~ model gpt-4o: input price $2.50 -> $3.00 (+20%)",
        "~ provider mistral: jurisdiction EU -> US",
    ):
        assert expected in lines, committed.stdout
    assert not any("split" in line for line in lines)  # the experiment change is not committed

    working = run("diff", str(policy), "--base", "HEAD")
    assert working.exit_code == 0
    assert working.stdout.splitlines()[0] == "~ experiment try-mistral: split 10% -> 25%"

    doc = json.loads(run("diff", str(policy), "--base", "v1", "--format", "json").stdout)
    assert {c["address"] for c in doc["changes"]} == {
        "route/default",
        "model/gpt-4o",
        "provider/mistral",
        "experiment/try-mistral",
    }
    # Two directories work too, and an unknown ref is a clear error.
    same = run("diff", str(policy), "--base", str(policy), "--detailed-exitcode")
    assert same.exit_code == 0 and "No differences" in same.stdout
    bad = run("diff", str(policy), "--base", "no-such-ref")
    assert bad.exit_code == 1 and "unknown git revision 'no-such-ref'" in bad.stderr


def test_added_and_removed_resources(policy, workdir):
    repo = make_repo(workdir, policy)
    text = (policy / "policy.yaml").read_text()
    (policy / "policy.yaml").write_text(
        text.replace(
            "kind: Tier\nmetadata: {name: frontier}", "kind: Tier\nmetadata: {name: top}"
        ).replace("tier: frontier", "tier: top")
    )
    commit_all(repo, "rename the tier")
    out = run("diff", str(policy), "--base", "v1").stdout.splitlines()
    assert "+ tier top: rank 2" in out and "- tier frontier: rank 2" in out
    assert "~ model gpt-4o: tier frontier -> top" in out


def test_rollback_applies_an_older_ref_without_touching_the_working_tree(policy, workdir):
    repo = make_repo(workdir, policy)
    assert run("apply", str(policy), "--auto-approve").exit_code == 0
    set_split(policy, 60)
    commit_all(repo, "60/40")
    assert run("apply", str(policy), "--auto-approve").exit_code == 0

    back = run("apply", str(policy), "--ref", "v1", "--auto-approve")
    assert back.exit_code == 0, back.output
    assert "spec.targets[0].weight: 60 -> 95" in back.stdout
    assert f"{policy}@{repo.tags['v1'].commit.hexsha[:12]}" in back.stdout
    assert "weight: 60}" in (policy / "policy.yaml").read_text()  # working tree untouched
    assert not repo.is_dirty()
    # The gateway now matches v1, and HEAD shows as the change to re-apply.
    assert run("plan", str(policy), "--ref", "v1", "--detailed-exitcode").exit_code == 0
    assert run("plan", str(policy), "--detailed-exitcode").exit_code == 2


def test_owner_defaults_to_repository_and_path(policy, workdir):
    make_repo(workdir, policy)
    doc = json.loads(run("plan", str(policy), "--format", "json").stdout)
    assert doc["owner"] == f"git:{workdir.name}//policy"
    repo = git.Repo(workdir)
    repo.create_remote("origin", "https://user:pw@github.com/acme/policies.git")
    doc = json.loads(run("plan", str(policy), "--format", "json").stdout)
    assert doc["owner"] == "git:github.com/acme/policies//policy"
