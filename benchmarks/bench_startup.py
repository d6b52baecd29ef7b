"""routectl --help startup against the floor of any typer CLI, measured in the same run.

One command: ``python benchmarks/bench_startup.py``. Prints the best of N whole-process
times of

  bare    = ``python -c pass`` (the interpreter)
  floor   = ``python -c "import typer, typer.rich_utils"`` (what a typer CLI with rich
            help must import)
  help    = ``routectl --help``
  version = ``routectl --version``

and exits 1 unless help <= floor x 1.3: ``routectl --help`` imports no command module,
so it costs little more than typer's rich help itself. The absolute aim, under 0.25 s on
an idle machine, is printed for reference; on a loaded machine only the ratio means much.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7


def best(command: list[str]) -> float:
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    python = sys.executable
    routectl = [python, "-c", "from routectl.cli.main import main; main()"]
    bare = best([python, "-c", "pass"])
    floor = best([python, "-c", "import typer, typer.rich_utils"])
    help_time = best([*routectl, "--help"])
    version = best([*routectl, "--version"])
    print(f"bare python          {bare:6.3f} s")
    print(f"floor (typer + rich) {floor:6.3f} s")
    print(
        f"routectl --help      {help_time:6.3f} s  ({help_time / floor:.2f} x floor, "
        f"+{help_time - bare:.3f} s over bare python)"
    )
    print(f"routectl --version   {version:6.3f} s")
    ok = help_time <= floor * 1.3
    print("PASS" if ok else "FAIL: target routectl --help <= 1.3 x floor")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
