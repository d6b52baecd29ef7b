"""The core's failover rule: which outcomes move down a chain, on which triggers."""

from __future__ import annotations

import pytest

from routectl.core.failover import (
    Action,
    Outcome,
    OutcomeKind,
    next_step,
    outcome_of_http,
    walk,
)

CHAIN = ("a", "b", "c")
ALL = frozenset({"429", "5xx", "timeout", "connection-error", "context-length"})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b"{}", OutcomeKind.answered),
        (404, b"{}", OutcomeKind.answered),
        (429, b"", OutcomeKind.rate_limited),
        (503, b"", OutcomeKind.server_error),
        (400, b'{"error": {"code": "context_length_exceeded"}}', OutcomeKind.context_length),
        (400, b'{"error": {"code": "invalid"}}', OutcomeKind.answered),
    ],
)
def test_http_answers_map_to_outcomes(status, body, kind):
    assert outcome_of_http(status, body).kind is kind


@pytest.mark.parametrize(
    ("kind", "trigger"),
    [
        (OutcomeKind.rate_limited, "429"),
        (OutcomeKind.server_error, "5xx"),
        (OutcomeKind.timeout, "timeout"),
        (OutcomeKind.connection_error, "connection-error"),
        (OutcomeKind.context_length, "context-length"),
    ],
)
def test_each_failure_falls_over_only_on_its_trigger(kind, trigger):
    step = next_step(CHAIN, frozenset({trigger}), 0, Outcome(kind))
    assert (step.action, step.index, step.trigger) == (Action.next, 1, trigger)
    others = ALL - {trigger}
    assert next_step(CHAIN, others, 0, Outcome(kind)).action is Action.fail
    # an upstream's error answer the route does not fall back on goes to the client
    assert next_step(CHAIN, others, 0, Outcome(kind, 500)).action is Action.answer


def test_models_never_tried_are_skipped_whatever_the_triggers():
    for kind in (OutcomeKind.circuit_open, OutcomeKind.missing_credential, OutcomeKind.unsupported):
        step = next_step(CHAIN, frozenset(), 1, Outcome(kind))
        assert (step.action, step.index) == (Action.next, 2)
        assert not Outcome(kind).rule.provider_fault


def test_an_outage_falls_over_on_any_of_5xx_timeout_or_connection_errors():
    down = Outcome(OutcomeKind.unavailable)
    for trigger in ("5xx", "timeout", "connection-error"):
        assert next_step(CHAIN, frozenset({trigger}), 0, down).action is Action.next
    assert next_step(CHAIN, frozenset({"429"}), 0, down).action is Action.fail


def test_the_end_of_the_chain_fails_with_the_trigger_that_fired():
    step = next_step(CHAIN, ALL, 2, Outcome(OutcomeKind.rate_limited))
    assert (step.action, step.index, step.trigger) == (Action.fail, None, "429")


def test_walk_follows_the_chain_to_the_first_answer():
    outcomes = {"a": Outcome(OutcomeKind.timeout), "b": Outcome(OutcomeKind.circuit_open)}
    walked = walk(CHAIN, frozenset({"timeout"}), outcomes.get)
    assert walked.answered == "c"
    assert [m for m, _ in walked.failed] == ["a", "b"]
    stopped = walk(CHAIN, frozenset({"5xx"}), outcomes.get)
    assert (stopped.answered, [m for m, _ in stopped.failed]) == (None, ["a"])
