"""The Spark engine gives the DuckDB engine's report on the same input.

Spark runs in local mode on the loopback interface; all tests of this module
share one SparkSession (starting the JVM takes tens of seconds on a small machine).
Without PySpark or Java the module is skipped, except in CI where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from routectl.core.bucket import bucket, bucket_sql
from simulate.helpers import CODE, CONV, copy_example, simulate_json
from simulate.test_simulate_bucket import KEYS
from simulate.test_simulate_sticky import POLICY


@pytest.fixture(scope="module")
def spark():
    problem = None
    if shutil.which("java") is None:
        problem = "Java is not installed (apt-get install openjdk-17-jre-headless)"
    else:
        try:
            from routectl.simulate.spark import session

            return session("local[2]")
        except Exception as exc:  # a missing pyspark, a JVM that does not start
            problem = str(exc)
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Spark: {problem}")
    pytest.skip(problem)


def same(left: Any, right: Any, path: str = "") -> None:
    """Equal reports; sums of floats may differ in their last bits between engines."""
    if isinstance(left, dict):
        assert set(left) == set(right), path
        for key in left:
            same(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert len(left) == len(right), path
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            same(a, b, f"{path}[{index}]")
    elif isinstance(left, float) and not isinstance(right, str):
        assert right == pytest.approx(left, rel=1e-9, abs=1e-9), path
    else:
        assert left == right, path


def test_spark_computes_the_cores_bucket(spark):
    frame = spark.createDataFrame([(key,) for key in KEYS], "key STRING")
    frame.createOrReplaceTempView("bucket_keys")
    rows = spark.sql(f"SELECT key, {bucket_sql('key', 'spark')} AS b FROM bucket_keys").collect()
    assert len(rows) == len(KEYS)
    for row in rows:
        assert row.b == bucket(row.key), row.key  # bit for bit


def test_azure_traces_give_the_same_report(spark, tmp_path: Path):
    head = copy_example("three-tier", tmp_path / "head")
    routes = head / "routes.yaml"
    routes.write_text(
        routes.read_text(encoding="utf-8").replace("weight: 70}", "weight: 50}"),
        encoding="utf-8",
    )
    base = copy_example("three-tier", tmp_path / "base")
    args = [
        head, "--base", base, "--traffic", CODE, "--traffic", CONV,
        "--set", "intent=classify", "--set", "classification=internal",
        "--outage", "openai@+10m..+25m",
    ]  # fmt: skip
    duck = simulate_json(*args)
    sparked = simulate_json(*args, "--engine", "spark", "--spark-master", "local[2]")
    assert duck["requests"] == 28_185
    same(duck, sparked)


def test_keyed_trace_gives_the_same_whole_counts(spark, tmp_path: Path):
    from tests.conftest import write_policy

    write_policy(tmp_path / "policy", POLICY)
    base = tmp_path / "base"
    write_policy(base, POLICY.replace("weight: 60}", "weight: 20}"))
    log = tmp_path / "log.jsonl"
    with log.open("w", encoding="utf-8") as handle:
        for n in range(3000):
            record = {
                "ts": f"2025-01-31T12:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "request_id": f"req-{n}" if n % 11 else None,  # some without: fractions
                "session": f"s-{n % 97}",
                "consumer": ["alice", "bob"][n % 2],
                "input_tokens": 100 + n,
                "output_tokens": 10 + n % 7,
                "metadata": {"team": "a" if n % 5 else "b"},
            }
            handle.write(json.dumps(record) + "\n")
    args = [tmp_path / "policy", "--base", base, "--traffic", log]
    duck = simulate_json(*args)
    sparked = simulate_json(*args, "--engine", "spark")
    assert duck["requests"] == 3000
    assert duck["experiments"] and duck["shadow"]["by_model"]
    same(duck, sparked)


def test_budgets_replay_alike_on_both_engines(spark, tmp_path):
    """The budget pass runs on the driver; the state it gives each request groups in Spark."""
    from tests.conftest import write_policy

    from budgets.test_simulate_budgets import POLICY as BUDGETED

    write_policy(tmp_path / "policy", BUDGETED)
    traffic = tmp_path / "traffic.csv"
    rows = [f"2026-12-07 10:{i // 60:02d}:{i % 60:02d},app,r{i},20000,1000" for i in range(100)]
    traffic.write_text("ts,consumer,request_id,input_tokens,output_tokens\n" + "\n".join(rows))
    args = (tmp_path / "policy", "--traffic", traffic)
    on_duckdb = simulate_json(*args)
    on_spark = simulate_json(*args, "--engine", "spark", "--spark-master", "local[2]")
    assert on_duckdb["budgets"]["consumers"]["app"]["first_blocked"] == "r84"
    assert round(on_spark["unroutable"]["count"]) == 16
    for key in ("budgets", "by_model", "unroutable", "cost"):
        same(on_duckdb[key], on_spark[key], key)


def test_bad_rows_get_the_same_messages_and_counts_on_both_engines(spark, tmp_path):
    """One declaration of the columns' checks: Spark names the same problems as DuckDB
    (DuckDB adds the line), skips the same rows and replays the same rest."""
    log = tmp_path / "log.jsonl"
    lines = []
    for n in range(200):
        record = {"ts": f"2025-01-31T12:00:{n % 60:02d}Z", "input_tokens": 100 + n,
                  "output_tokens": 10, "metadata": {"team": "a"}}  # fmt: skip
        if n == 40:
            record["input_tokens"] = 12.5
        if n == 80:
            record["metadata"] = "not an object"
        if n == 120:
            record["ts"] = "yesterday"
        lines.append(json.dumps(record))
    lines[150] = '{"ts": "2025-01-31T12:00:00Z", "input_tokens": 5,'
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    policy = copy_example("three-tier", tmp_path / "policy")
    args = (policy, "--traffic", log, "--on-error", "skip")
    on_duckdb = simulate_json(*args)
    on_spark = simulate_json(*args, "--engine", "spark", "--spark-master", "local[2]")
    assert on_duckdb["traffic"]["skipped"] == on_spark["traffic"]["skipped"] == 4
    located = [e.split(": ", 1) for e in on_duckdb["traffic"]["errors"]]
    assert [where.rsplit(":", 1)[1] for where, _ in located] == ["41", "81", "121", "151"]
    duck_messages = sorted(message for _, message in located)
    spark_messages = sorted(e.split(": ", 1)[1] for e in on_spark["traffic"]["errors"])
    assert duck_messages == spark_messages
    assert "input_tokens: '12.5' is not a whole number of input_tokens" in duck_messages
    for key in ("requests", "by_model", "cost"):
        same(on_duckdb[key], on_spark[key], key)
