"""--help reads well, errors look alike, and a closed pipe keeps the command's exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from tests.conftest import EXAMPLES, ROOT
from typer.testing import CliRunner

from routectl import __version__
from routectl.cli.main import COMMANDS, SUMMARIES, app

runner = CliRunner()
ENV = os.environ | {"PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
COMMAND_LINES = [[name] for name in COMMANDS if name != "gateway"] + [["gateway", "serve"]]


@pytest.mark.parametrize("command", COMMAND_LINES, ids=[" ".join(c) for c in COMMAND_LINES])
def test_help_shows_values_as_typed(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = result.stdout
    for leak in ("<bool>", "<list[", "<str>", "<path>", "<int>", "<float", "<string>"):
        assert leak not in text, (command, leak)
    assert not re.search(r"\w \.(\s|$)", text), "a stray space: markup ate a [bracket]"
    options = re.findall(r"│ (--[a-z-]+)\s+(\S.*?)\s*│", text)
    undocumented = [name for name, rest in options if not rest.strip()]
    assert undocumented == [], command


@pytest.mark.parametrize("command", ["apply", "drift", "plan", "lint", "simulate", "test"])
def test_help_lists_exit_codes(command: str) -> None:
    text = runner.invoke(app, [command, "--help"], terminal_width=200).stdout
    assert re.search(r"[Ee]xit 0", text), command


def test_root_help_summaries_are_the_commands_own() -> None:
    for name, summary in SUMMARIES.items():
        command = [name, "serve"] if name == "gateway" else [name]
        text = runner.invoke(app, [*command, "--help"], terminal_width=200).stdout
        if name != "gateway":
            assert summary in " ".join(text.split()), name


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"routectl {__version__}\n"


def test_root_help_imports_no_command() -> None:
    probe = (
        "import sys\n"
        "from routectl.cli.main import main\n"
        "sys.argv = ['routectl', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('routectl.') or m in "
        "('pydantic', 'httpx', 'git', 'duckdb', 'jinja2')]\n"
        "sys.stderr.write(repr(sorted(loaded)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert done.stderr.strip() == "['routectl.cli', 'routectl.cli.main']"
    assert "pr-comment" in done.stdout


def test_a_closed_pipe_keeps_the_exit_code(tmp_path) -> None:
    """`routectl plan --detailed-exitcode | head -1`: 2 (changes), not 1 (error)."""
    command = [
        sys.executable,
        "-c",
        "from routectl.cli.main import main; main()",
        "plan",
        str(EXAMPLES / "three-tier"),
        "--detailed-exitcode",
        "--store",
        f"sqlite:///{tmp_path / 'none.db'}",
    ]
    process = subprocess.Popen(
        command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    process.stdout.close()  # the reader went away before the first line
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["test", "nope"],
        ["lint", "nope"],
        ["plan", "nope"],
        ["simulate", str(EXAMPLES / "three-tier"), "--traffic", "nope.csv"],
        [
            "simulate",
            str(EXAMPLES / "three-tier"),
            "--traffic",
            str(ROOT / "examples" / "traffic" / "azure-code-conv.yaml"),
            "--base",
            "nope",
        ],
        ["rules", "RT999"],
        ["apply", "nope", "--auto-approve"],
        ["diff", str(EXAMPLES / "three-tier"), "--base", "nope"],
        ["fmt", "nope"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]),
)
def test_errors_read_alike(args: list[str], tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2)
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: "), first
    assert "nope:1:1" not in result.stderr and "HEAD:1:1" not in result.stderr
    assert "None" not in result.stderr and "Value error" not in result.stderr
