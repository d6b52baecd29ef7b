"""Property: whatever happened before, a provider that recovers is probed within one cooldown.

A run is generated as a sequence of steps on a simulated clock: time passes; a request asks
the breaker whether it may go; a request that went reports success, failure, a neutral
outcome (a 400 context_length_exceeded, an error before the request left) or never reports
(lost). At a generated moment the provider recovers: from then on every request that goes
succeeds or is neutral. Requests keep arriving every ``tick``; the first one let through
after the recovery must come no later than one cooldown (plus a tick) after it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from routectl.gateway.breaker import Breaker

COOLDOWN = 10.0
TICK = 0.25

outcomes = st.sampled_from(["success", "failure", "neutral", "lost"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.floats(0.0, 3 * COOLDOWN)),
        st.tuples(st.just("request"), outcomes),
        # A request whose outcome arrives later (a slow upstream, a timeout).
        st.tuples(st.just("slow"), st.tuples(outcomes, st.floats(0.0, 3 * COOLDOWN))),
    ),
    max_size=60,
)


def _report(breaker: Breaker, outcome: str, now: float, sent_at: float) -> None:
    if outcome == "success":
        breaker.success(now)
    elif outcome == "failure":
        breaker.failure(now, sent_at)
    elif outcome == "neutral":
        breaker.release()


@settings(max_examples=800, deadline=None)
@given(
    before=steps,
    threshold=st.integers(1, 6),
    after_outcome=st.sampled_from(["success", "neutral"]),
    late_failures=st.lists(st.floats(0.0, 2 * COOLDOWN), max_size=5),
)
def test_a_recovered_provider_is_probed_within_one_cooldown(
    before, threshold, after_outcome, late_failures
):
    breaker = Breaker(threshold, COOLDOWN)
    now = 0.0
    pending: list[tuple[float, str, float]] = []  # (reports at, outcome, sent at)

    def deliver(until: float) -> None:
        for due, outcome, sent in sorted(pending):
            if due <= until:
                _report(breaker, outcome, due, sent)
        pending[:] = [p for p in pending if p[0] > until]

    for kind, arg in before:
        if kind == "wait":
            deliver(now + arg)
            now += arg
        elif breaker.allow(now):
            if kind == "request":
                _report(breaker, arg, now, now)
            else:
                outcome, delay = arg
                pending.append((now + delay, outcome, now))
    recovered_at = now
    # Requests sent before the recovery may still fail after it (timeouts): they report
    # failure at generated later moments.
    pending.extend((recovered_at + d, "failure", recovered_at - 0.001) for d in late_failures)
    first_allowed = None
    while now <= recovered_at + COOLDOWN + 2 * TICK:
        deliver(now)
        if breaker.allow(now):
            first_allowed = now
            break
        now += TICK
    assert first_allowed is not None, (
        f"no request went through within {COOLDOWN + 2 * TICK} s of the recovery "
        f"(state {breaker.state})"
    )
    _report(breaker, after_outcome, now, now)
