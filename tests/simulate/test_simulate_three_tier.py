"""Base vs head on the three-tier example, replaying the real Azure traces.

The expected cost deltas are recomputed here from the raw CSV with the plain
csv module and the prices read from the YAML, not from routectl's numbers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from simulate.helpers import (
    CODE,
    CODE_ROWS,
    CONV,
    CONV_ROWS,
    EXAMPLES,
    azure_rows,
    by_model,
    copy_example,
    prices,
    simulate_json,
)

TOTAL = CODE_ROWS + CONV_ROWS  # 28,185
DEFAULT_CHEAPEST = """  strategy: cheapest
  targets:
    - tier: lightweight
    - tier: standard
  fallback:
    chain: [gpt-4o]"""
DEFAULT_WEIGHTED = """  strategy: weighted
  targets:
    - {model: mistral-small, weight: 60}
    - {model: gpt-4o-mini, weight: 40}
  fallback:
    chain: [gpt-4o]"""


def cost(price: tuple[float, float], tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def spec(tmp_path: Path, code_intent: str, conv_intent: str) -> Path:
    path = tmp_path / "traffic.yaml"
    path.write_text(
        "files:\n"
        f"  - path: {CODE}\n    set: {{intent: {code_intent}, classification: internal}}\n"
        f"  - path: {CONV}\n    set: {{intent: {conv_intent}, classification: internal}}\n",
        encoding="utf-8",
    )
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the example changed: {old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_weighted_default_route_shift_and_cost_delta(tmp_path):
    head = copy_example("three-tier", tmp_path / "head")
    edit(head / "routes.yaml", DEFAULT_CHEAPEST, DEFAULT_WEIGHTED)
    report = simulate_json(
        head, "--base", EXAMPLES / "three-tier", "--traffic", spec(tmp_path, "code", "chat")
    )

    assert report["format_version"] == 1
    assert report["requests"] == TOTAL
    rows: dict[str, float] = {}
    for move in report["shift"]:
        rows[move["from"]] = rows.get(move["from"], 0.0) + move["requests"]
    assert sum(rows.values()) == pytest.approx(TOTAL)
    # Internal chat and code take the default route: cheapest is Mistral Small in base.
    assert by_model(report["base"]) == {"mistral-small": pytest.approx(TOTAL)}
    assert report["shift"] == [
        {"from": "mistral-small", "to": "mistral-small", "requests": pytest.approx(0.6 * TOTAL)},
        {"from": "mistral-small", "to": "gpt-4o-mini", "requests": pytest.approx(0.4 * TOTAL)},
    ]

    table = prices(EXAMPLES / "three-tier")
    expected = sum(
        0.4 * (cost(table["gpt-4o-mini"], i, o) - cost(table["mistral-small"], i, o))
        for path in (CODE, CONV)
        for _, i, o in azure_rows(path)
    )
    base_cost = sum(
        cost(table["mistral-small"], i, o) for p in (CODE, CONV) for _, i, o in azure_rows(p)
    )
    assert report["delta"]["cost"]["absolute"] == pytest.approx(expected, rel=1e-9)
    assert report["base"]["cost"]["total"] == pytest.approx(base_cost, rel=1e-9)
    assert report["delta"]["cost"]["percent"] == pytest.approx(100 * expected / base_cost)
    assert report["unroutable"]["count"] == 0


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_lightweight_split_against_a_git_ref(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "ci")
    policy = copy_example("three-tier", repo / "policy")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "policy")
    committed = git(repo, "rev-parse", "HEAD")
    # The working tree changes the 70/30 split to 50/50, uncommitted: base is main.
    edit(
        policy / "routes.yaml",
        "{model: gpt-4o-mini, weight: 70}",
        "{model: gpt-4o-mini, weight: 50}",
    )
    edit(
        policy / "routes.yaml",
        "{model: gemini-2.0-flash, weight: 30}",
        "{model: gemini-2.0-flash, weight: 50}",
    )

    report = simulate_json(
        policy, "--base", "main", "--traffic", spec(tmp_path, "code", "classify")
    )

    assert report["policy"]["base"]["revision"] == committed
    assert report["policy"]["head"]["revision"] == committed
    assert report["policy"]["head"]["dirty"] is True
    assert sum(m["requests"] for m in report["shift"]) == pytest.approx(TOTAL)
    table = prices(EXAMPLES / "three-tier")
    conv = azure_rows(CONV)
    # Precondition of the recomputation: the route's $0.01 cap filters neither model.
    assert all(
        cost(table[m], i, o) <= 0.01
        for m in ("gpt-4o-mini", "gemini-2.0-flash")
        for _, i, o in conv
    )
    expected = sum(
        (0.5 - 0.7) * cost(table["gpt-4o-mini"], i, o)
        + (0.5 - 0.3) * cost(table["gemini-2.0-flash"], i, o)
        for _, i, o in conv
    )
    assert report["delta"]["cost"]["absolute"] == pytest.approx(expected, rel=1e-9)
    moved = [m for m in report["shift"] if m["from"] != m["to"]]
    assert moved == [
        {
            "from": "gpt-4o-mini",
            "to": "gemini-2.0-flash",
            "requests": pytest.approx(0.2 * CONV_ROWS),
        }
    ]
    head = by_model(report)
    assert head["gpt-4o-mini"] == pytest.approx(0.5 * CONV_ROWS)
    assert head["gemini-2.0-flash"] == pytest.approx(0.5 * CONV_ROWS)
    hashes = {f["path"].rsplit("/", 1)[-1]: f["sha256"] for f in report["traffic"]["files"]}
    assert hashes[CODE.name] == _sha256(CODE)


def test_set_applies_to_every_file_and_head_only_report(tmp_path):
    report = simulate_json(
        EXAMPLES / "three-tier", "--traffic", CODE, "--traffic", CONV,
        "--set", "intent=chat", "--set", "classification=internal",
    )  # fmt: skip
    assert report["requests"] == TOTAL
    assert "base" not in report and "shift" not in report
    assert [f["requests"] for f in report["traffic"]["files"]] == [CODE_ROWS, CONV_ROWS]
    assert sum(m["share"] for m in report["by_model"]) == pytest.approx(1.0)
    table = prices(EXAMPLES / "three-tier")
    expected = sum(
        cost(table["mistral-small"], i, o) for p in (CODE, CONV) for _, i, o in azure_rows(p)
    )
    assert report["cost"]["total"] == pytest.approx(expected, rel=1e-9)
    assert any(p["source"] for p in report["policy"]["head"]["prices"])


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
