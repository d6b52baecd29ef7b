"""Whole `routectl apply` processes: racing on one store (exactly one wins, no update is lost),
and asking for confirmation on a real terminal."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import httpx
from tests.reconcile.conftest import TOKEN, free_port, run, write_policy

from routectl.store.sqlite import SqliteStore

ROUTECTL = [sys.executable, "-m", "routectl.cli.main"]


def tier_policy(workdir, index: int):
    return write_policy(
        workdir / f"team-{index}",
        f"""
        apiVersion: routectl.dev/v1
        kind: Tier
        metadata: {{name: team-{index}}}
        spec: {{rank: {index}}}
        """,
    )


def race(commands: list[list[str]], cwd) -> list[tuple[int, str, str]]:
    """Start every command before waiting for any: they run at once."""
    procs = [
        subprocess.Popen(
            [*ROUTECTL, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in commands
    ]
    return [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]


def resources(path) -> list[str]:
    store = SqliteStore(path)
    try:
        return sorted(store.snapshot().resources)
    finally:
        store.close()


def test_ten_racing_applies_of_saved_plans(workdir):
    store_url = f"sqlite:///{workdir / 'race.db'}"
    for i in range(10):
        policy = tier_policy(workdir, i)
        args = ["--store", store_url, "--out", f"{i}.plan", "--owner", f"team-{i}"]
        planned = run("plan", str(policy), *args)
        assert planned.exit_code == 0, planned.output

    outcomes = race([["apply", f"{i}.plan"] for i in range(10)], workdir)

    winners = [i for i, (code, _, _) in enumerate(outcomes) if code == 0]
    assert len(winners) == 1, outcomes
    for i, (code, out, err) in enumerate(outcomes):
        if i in winners:
            assert "gateway at revision 1." in out
            continue
        assert code == 1
        assert err.strip() == (
            f"error: stale plan: {i}.plan was computed against revision 0 but gateway "
            f"{store_url} is now at revision 1; nothing was written; run plan again"
        )
    assert resources(workdir / "race.db") == [f"tier/team-{winners[0]}"]
    store = SqliteStore(workdir / "race.db")
    assert store.current_revision() == 1
    store.close()


def test_racing_applies_of_manifests_lose_no_update(workdir):
    """Whoever loses the If-Match race writes nothing; re-running it then lands on top."""
    store_url = f"sqlite:///{workdir / 'race.db'}"
    policies = [tier_policy(workdir, i) for i in range(4)]
    commands = [
        ["apply", str(p), "--auto-approve", "--store", store_url, "--owner", p.name]
        for p in policies
    ]
    outcomes = race(commands, workdir)
    winners = [i for i, (code, _, _) in enumerate(outcomes) if code == 0]
    assert winners, outcomes
    for code, _, err in outcomes:
        if code != 0:
            assert code == 1
            assert err.startswith("error: conflict: this apply was planned against revision ")
            assert "nothing was written" in err
    # Every revision is exactly one winner's apply: nothing overwritten, nothing half-done.
    store = SqliteStore(workdir / "race.db")
    assert store.current_revision() == len(winners)
    store.close()
    assert resources(workdir / "race.db") == sorted(f"tier/team-{i}" for i in winners)

    for i, (code, _, _) in enumerate(outcomes):
        if code != 0:
            again = run(*commands[i])
            assert again.exit_code == 0, again.output
    assert resources(workdir / "race.db") == sorted(f"tier/team-{i}" for i in range(4))


def test_apply_asks_on_a_terminal_and_only_yes_applies(policy, workdir):
    """A real pseudo-terminal: the prompt appears, 'no' writes nothing, 'yes' applies."""
    store_url = f"sqlite:///{workdir / 'tty.db'}"
    for answer, expected_code in (("no", 1), ("yes", 0)):
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [*ROUTECTL, "apply", str(policy), "--store", store_url],
            cwd=workdir,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)
        output = b""
        while b"Enter a value" not in output:
            chunk = os.read(primary, 4096)
            assert chunk, output
            output += chunk
        os.write(primary, answer.encode() + b"\n")
        assert proc.wait(60) == expected_code
        try:
            while chunk := os.read(primary, 4096):
                output += chunk
        except OSError:  # the terminal closes with the process
            pass
        os.close(primary)
        text = output.decode(errors="replace")
        assert "Only 'yes' will be accepted" in text
        if answer == "no":
            assert "apply cancelled; nothing was written" in text
            assert not resources(workdir / "tty.db")
        else:
            assert "Apply complete: 11 added" in text
            assert len(resources(workdir / "tty.db")) == 11


def test_against_a_running_routectl_gateway(policy, workdir):
    """`routectl gateway serve` as a process: apply, converge, and the gateway serves the models."""
    port = free_port()
    env = os.environ | {"ROUTECTL_ADMIN_TOKEN": TOKEN}
    server = subprocess.Popen(
        [
            *ROUTECTL,
            "gateway",
            "serve",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{workdir / 'served.db'}",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        cli_env = {"ROUTECTL_TOKEN": TOKEN, "ROUTECTL_GATEWAY": url}
        applied = run("apply", str(policy), "--auto-approve", env=cli_env)
        assert applied.exit_code == 0, applied.output
        assert run("plan", str(policy), "--detailed-exitcode", env=cli_env).exit_code == 0
        assert run("drift", str(policy), env=cli_env).exit_code == 0
        # The gateway hot-reloads what was applied: its health shows the new revision.
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/healthz").json().get("revision") != 1:
            assert time.monotonic() < deadline, httpx.get(f"{url}/healthz").text
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
