"""How fast ``routectl simulate`` replays a large trace, against a bare DuckDB scan.

    python benchmarks/bench_simulate.py            # ~1M rows
    python benchmarks/bench_simulate.py --rows 10000000

The trace is the real Azure hour (examples/traffic, code + conversation) tiled
until it has at least ``--rows`` rows: each copy is shifted by one hour, so the
copies repeat the same token counts at later times. An ``intent`` column says
which file a row came from (code -> code, conversation -> classify), and every
row is ``internal`` data.

In one run it times
  (a) a bare DuckDB aggregation of the file (count and token sums), in-process
      and as a whole process (python -c, importing duckdb),
  (b) ``routectl simulate`` base-vs-head on the same file as a whole process,
      base = examples/policies/three-tier, head = the same with the lightweight
      split changed from 70/30 to 50/50;
and prints (b)/(a), the child's peak RSS, and, for contrast, the decisions per
second of a naive loop calling the evaluator once per request on a sample.
Targets: (b)/(a whole process) <= 3, peak RSS < 1 GB, 10M rows within ~11x 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC = ROOT / "examples" / "traffic"
POLICY = ROOT / "examples" / "policies" / "three-tier"
HOUR_ROWS = 28_185


def build_trace(rows: int, target: Path) -> int:
    import duckdb

    copies = -(-rows // HOUR_ROWS)
    code = (TRAFFIC / "AzureLLMInferenceTrace_code.csv").as_posix()
    conv = (TRAFFIC / "AzureLLMInferenceTrace_conv.csv").as_posix()
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            WITH hour AS (
                SELECT TIMESTAMP, ContextTokens, GeneratedTokens, 'code' AS intent
                FROM read_csv('{code}')
                UNION ALL
                SELECT TIMESTAMP, ContextTokens, GeneratedTokens, 'classify' AS intent
                FROM read_csv('{conv}')
            )
            SELECT TIMESTAMP + to_hours(c.i) AS TIMESTAMP, ContextTokens, GeneratedTokens,
                   intent, 'internal' AS classification
            FROM hour, range({copies}) AS c(i)
            ORDER BY 1
        ) TO '{target.as_posix()}' (HEADER, DELIMITER ',')
        """
    )
    return copies


def bare_sql(trace: Path) -> str:
    """Reads every column of the file, as the replay must (timestamps for rate limits)."""
    return (
        "SELECT intent, classification, count(*), sum(ContextTokens), sum(GeneratedTokens), "
        f"min(TIMESTAMP), max(TIMESTAMP) FROM read_csv('{trace.as_posix()}') GROUP BY ALL"
    )


def bare_duckdb_in_process(trace: Path) -> float:
    import duckdb

    started = time.perf_counter()
    duckdb.connect().execute(bare_sql(trace)).fetchall()
    return time.perf_counter() - started


def run_child(command: list[str]) -> tuple[float, int, int, bytes, bytes]:
    """Wall time, peak RSS (KB, this child only), exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return elapsed, usage.ru_maxrss, child.returncode, out.read(), err.read()


def naive_loop(sample: int) -> float:
    import csv

    from routectl.core.evaluator import decide
    from routectl.core.policy import resolve
    from routectl.core.request import Request
    from routectl.loader.yaml_source import load_paths

    policy = resolve(d.doc for d in load_paths([POLICY]).documents)
    requests = []
    with (TRAFFIC / "AzureLLMInferenceTrace_conv.csv").open(newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if index >= sample:
                break
            requests.append(
                Request(
                    intent="classify",
                    classification="internal",
                    input_tokens=int(row["ContextTokens"]),
                    output_tokens=int(row["GeneratedTokens"]),
                    request_id=f"r{index}",
                )
            )
    started = time.perf_counter()
    for request in requests:
        decide(policy, request)
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Directory to keep the tiled trace in.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    try:
        trace = (args.keep or work) / f"azure-tiled-{args.rows}.csv"
        trace.parent.mkdir(parents=True, exist_ok=True)
        copies = -(-args.rows // HOUR_ROWS)
        if not trace.exists():
            build_trace(args.rows, trace)
        rows = copies * HOUR_ROWS
        head = work / "head"
        shutil.copytree(POLICY, head)
        routes = head / "routes.yaml"
        text = routes.read_text(encoding="utf-8")
        routes.write_text(
            text.replace("weight: 70}", "weight: 50}").replace("weight: 30}", "weight: 50}"),
            encoding="utf-8",
        )
        print(
            f"trace: {rows:,} rows = {copies} copies of the Azure hour (code + conversation), "
            "each shifted by one hour; copies repeat the same token counts"
        )

        bare = [bare_duckdb_in_process(trace) for _ in range(3)]
        bare_in = min(bare)
        script = f"import duckdb; duckdb.connect().execute({bare_sql(trace)!r}).fetchall()"
        bare_proc = min(run_child([sys.executable, "-c", script])[0] for _ in range(3))
        routectl = shutil.which("routectl") or "routectl"
        command = [
            routectl,
            "simulate",
            str(head),
            "--base",
            str(POLICY),
            "--traffic",
            str(trace),
            "--format",
            "json",
        ]
        timings = []
        peak = 0
        for _ in range(3):
            elapsed, peak_kb, code, out, err = run_child(command)
            if code != 0:
                sys.stderr.write(err.decode())
                raise SystemExit(f"routectl simulate failed with exit {code}")
            replayed = json.loads(out)["requests"]
            if replayed != rows:
                raise SystemExit(f"routectl simulate replayed {replayed:,} of {rows:,} rows")
            timings.append(elapsed)
            peak = max(peak, peak_kb)
        sim = min(timings)
        startup = min(run_child([routectl, "simulate", "--help"])[0] for _ in range(3))

        print(f"(a) bare DuckDB aggregation, in-process:   {bare_in:8.3f} s")
        print(f"(a) bare DuckDB aggregation, whole process: {bare_proc:8.3f} s")
        print(
            f"(b) routectl simulate base vs head, whole process: {sim:8.3f} s "
            f"({rows / sim:,.0f} requests/s)"
        )
        print(f"ratio (b)/(a whole process): {sim / bare_proc:5.2f}   (target <= 3)")
        print(f"ratio (b)/(a in-process):    {sim / bare_in:5.2f}")
        replay = sim - startup
        print(f"of (b), CLI startup (routectl simulate --help):             {startup:8.3f} s")
        print(f"of (b), the replay itself: {replay:.3f} s = {replay / bare_in:.2f}x (a in-process)")
        print(f"peak RSS of the simulate process: {peak / 1024:,.0f} MB   (target < 1024 MB)")
        rate = naive_loop(5_000)
        print(
            f"naive loop, decide() per request (5,000 sample, one policy): {rate:,.0f} "
            f"decisions/s; {2 * rows / rate:,.1f} s for base+head on this trace"
        )
        print(f"cores: {os.cpu_count()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
