"""Live experiments over real HTTP: sticky arms per consumer, candidate share near the percent."""

from __future__ import annotations

from collections import defaultdict

from gateway.conftest import read_log, route
from routectl.core.evaluator import bucket

CONSUMERS = 200
REQUESTS_EACH = 3
PERCENT = 30


def consumer_docs(monkeypatch) -> list[str]:
    docs = []
    for i in range(CONSUMERS):
        monkeypatch.setenv(f"GW_AB_KEY_{i}", f"ab-key-{i}")
        docs.append(
            f"kind: Consumer\nmetadata: {{name: user-{i}}}\nspec: {{apiKey: env:GW_AB_KEY_{i}}}"
        )
    return docs


def test_experiment_is_sticky_by_consumer_and_splits_near_its_percent(
    configure, gateway, mock, monkeypatch, tmp_path
):
    revision = configure(
        *consumer_docs(monkeypatch),
        route(targets="[{model: m-a}]"),
        "kind: Experiment\nmetadata: {name: try-c}\n"
        f"spec: {{route: main, candidate: m-c, percent: {PERCENT}, stickyBy: consumer}}",
    )
    gateway.await_revision(revision)
    arms: dict[str, set[str]] = defaultdict(set)
    for round_ in range(REQUESTS_EACH):  # rounds interleave consumers, as real traffic would
        for i in range(CONSUMERS):
            response = gateway.chat(key=f"ab-key-{i}", headers={"x-request-id": f"u{i}-r{round_}"})
            assert response.status_code == 200, response.text
            arms[f"user-{i}"].add(response.headers["x-routectl-model"])

    # Sticky: fresh request ids every time, yet each consumer always got the same model.
    assert all(len(models) == 1 for models in arms.values()), {
        c: m for c, m in arms.items() if len(m) > 1
    }
    on_candidate = {c for c, models in arms.items() if models == {"m-c"}}
    assert set().union(*arms.values()) == {"m-a", "m-c"}
    share = len(on_candidate) / CONSUMERS
    assert abs(share - PERCENT / 100) <= 0.08, share
    # The arm is the evaluator's hash of experiment and consumer, so a simulation agrees.
    expected = {f"user-{i}" for i in range(CONSUMERS) if bucket(f"try-c:user-{i}") < PERCENT / 100}
    assert on_candidate == expected
    assert len(mock["p-c"].received) == REQUESTS_EACH * len(on_candidate)

    records = read_log(tmp_path / "decisions.jsonl", CONSUMERS * REQUESTS_EACH)
    assert len(records) == CONSUMERS * REQUESTS_EACH
    for record in records:
        if record["consumer"] in on_candidate:
            assert (record["model"], record["arm"], record["experiment"]) == (
                "m-c",
                "candidate",
                "try-c",
            )
        else:
            assert (record["model"], record["arm"], record["experiment"]) == (
                "m-a",
                "primary",
                None,
            )


def test_candidate_failing_falls_back_to_the_control_model(
    configure, gateway, mock, monkeypatch, tmp_path
):
    """The candidate arm's fallbacks are the control's: a broken candidate costs no answers."""
    revision = configure(
        route(targets="[{model: m-a}]"),
        "kind: Experiment\nmetadata: {name: all-c}\n"
        "spec: {route: main, candidate: m-c, percent: 100, stickyBy: consumer}",
    )
    gateway.await_revision(revision)
    mock["p-c"].mode = "500"
    response = gateway.chat(headers={"x-request-id": "broken-candidate"})
    assert response.status_code == 200
    assert response.headers["x-routectl-model"] == "m-a"
    (record,) = read_log(tmp_path / "decisions.jsonl", 1)
    assert [(a["model"], a["status"]) for a in record["attempts"]] == [("m-c", 500), ("m-a", 200)]
    # The drawn arm stays on record, so an A/B readout counts the candidate's failures.
    assert (record["model"], record["arm"], record["experiment"]) == ("m-a", "candidate", "all-c")
