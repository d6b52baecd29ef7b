"""Mutated manifests and traffic files through load -> lint -> explain -> simulate (a fast
version of benchmarks/bench_reliability.py): no traceback, every error located, no step
over five seconds."""

from __future__ import annotations

from hardening import offline_fuzz

INPUTS = 150


def test_mutated_policies_and_traffic_never_raise_and_errors_are_located(tmp_path):
    outcome = offline_fuzz.fuzz(INPUTS, tmp_path, seed=7)
    assert outcome.inputs == INPUTS
    assert outcome.tracebacks == []
    assert outcome.unlocated == []
    assert outcome.slow == []
    assert outcome.loaded > 0 and outcome.simulated > 0  # the mutations reach every step
