"""The progress display: on stderr, only for replays that take a while, only on terminals."""

from __future__ import annotations

import io
import time

from rich.console import Console

from routectl.cli import simulate_cmd


def _terminal(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    monkeypatch.setattr(simulate_cmd, "stderr", console)
    return buffer


def test_a_long_replay_shows_its_stage(monkeypatch):
    buffer = _terminal(monkeypatch)
    monkeypatch.setattr(simulate_cmd, "PROGRESS_AFTER_S", 0.05)
    with simulate_cmd._progress(True) as step:
        step("reading traffic")
        time.sleep(0.6)  # rich refreshes 10 times a second
        step("aggregating")
        time.sleep(0.3)
    text = buffer.getvalue()
    assert "reading traffic" in text
    assert "aggregating" in text


def test_a_short_replay_prints_nothing(monkeypatch):
    buffer = _terminal(monkeypatch)
    with simulate_cmd._progress(True) as step:  # the default: after 2 s
        step("reading traffic")
        step("aggregating")
    assert buffer.getvalue() == ""


def test_quiet_or_not_a_terminal_prints_nothing(monkeypatch):
    buffer = _terminal(monkeypatch)
    monkeypatch.setattr(simulate_cmd, "PROGRESS_AFTER_S", 0.0)
    with simulate_cmd._progress(False) as step:
        step("reading traffic")
        time.sleep(0.3)
    assert buffer.getvalue() == ""


def test_quiet_is_accepted_and_spark_master_needs_spark(tmp_path):
    from simulate.helpers import CODE, EXAMPLES, simulate, simulate_json

    policy = EXAMPLES / "three-tier"
    report = simulate_json(policy, "--traffic", CODE, "--set", "intent=code", "--quiet")
    assert report["requests"] == 8_819
    result = simulate(policy, "--traffic", CODE, "--spark-master", "local[2]")
    assert result.exit_code == 2
    assert "--spark-master needs --engine spark" in result.output
