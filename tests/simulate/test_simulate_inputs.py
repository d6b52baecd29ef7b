"""Traffic formats, column detection and mapping, and located errors for bad input."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import write_policy

from simulate.helpers import CONV, azure_rows, simulate, simulate_json

POLICY = """
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "https://p.example", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Consumer
metadata: {name: shop}
spec: {apiKey: "env:SHOP_KEY"}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: cheap}
spec: {provider: p, upstreamModel: c, contextWindow: 200000, maxOutputTokens: 8000,
       pricing: {input: 1.0, output: 2.0}}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: coder}
spec: {provider: p, upstreamModel: k, capabilities: [chat, code], contextWindow: 200000,
       maxOutputTokens: 8000, pricing: {input: 5.0, output: 5.0}}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: code}
spec: {order: 1, match: {intents: [code]}, targets: [{model: coder}]}
---
apiVersion: routectl.dev/v1
kind: Route
metadata: {name: rest}
spec: {order: 2, targets: [{model: cheap}]}
"""
SAMPLE = azure_rows(CONV)[:400]
SAMPLE_COST = sum(i * 1.0 + o * 2.0 for _, i, o in SAMPLE) / 1e6


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    write_policy(tmp_path / "policy", POLICY)
    return tmp_path / "policy"


def write_csv(path: Path, header: list[str], rows, opener=open) -> Path:
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: list[dict], opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


AZURE_HEADER = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]


def azure_records() -> list[dict]:
    return [{"TIMESTAMP": t, "ContextTokens": i, "GeneratedTokens": o} for t, i, o in SAMPLE]


def make_csv(tmp: Path) -> Path:
    return write_csv(tmp / "t.csv", AZURE_HEADER, SAMPLE)


def make_csv_gz(tmp: Path) -> Path:
    return write_csv(tmp / "t.csv.gz", AZURE_HEADER, SAMPLE, gzip.open)


def make_jsonl(tmp: Path) -> Path:
    return write_jsonl(tmp / "t.jsonl", azure_records())


def make_jsonl_gz(tmp: Path) -> Path:
    return write_jsonl(tmp / "t.jsonl.gz", azure_records(), gzip.open)


def make_parquet(tmp: Path) -> Path:
    path = tmp / "t.parquet"
    pq.write_table(pa.Table.from_pylist(azure_records()), path)
    return path


@pytest.mark.parametrize("make", [make_csv, make_csv_gz, make_jsonl, make_jsonl_gz, make_parquet])
def test_every_format_gives_the_same_replay(tmp_path, policy, make):
    report = simulate_json(policy, "--traffic", make(tmp_path))
    assert report["requests"] == len(SAMPLE)
    assert report["input_tokens"] == sum(i for _, i, _ in SAMPLE)
    assert report["cost"]["total"] == pytest.approx(SAMPLE_COST, rel=1e-9)
    assert report["traffic"]["start"].startswith(SAMPLE[0][0][:19])


def test_several_files_of_different_formats(tmp_path, policy):
    report = simulate_json(
        policy, "--traffic", make_csv(tmp_path), "--traffic", make_parquet(tmp_path)
    )
    assert report["requests"] == 2 * len(SAMPLE)
    assert report["cost"]["total"] == pytest.approx(2 * SAMPLE_COST, rel=1e-9)


def test_gateway_decision_log_replays_without_mapping(tmp_path, policy):
    records = []
    for n, (_, i, o) in enumerate(SAMPLE[:40]):
        records.append(
            {
                "ts": f"2025-01-31T12:{n % 60:02d}:00.123456Z",
                "request_id": f"req-{n}",
                "consumer": "shop" if n % 2 else None,
                "intent": "code" if n % 4 == 0 else "chat",
                "classification": None,
                "language": "de",
                "route": "rest",
                "model": "cheap",
                "arm": "primary",
                "experiment": None,
                "attempts": [{"model": "cheap", "provider": "p", "status": 200, "error": None}],
                "input_tokens": i,
                "output_tokens": None if n == 3 else o,
                "cost": 0.0,
                "latency_ms": 12.5,
                "status": 200,
                "shadows": [],
            }
        )
    log = write_jsonl(tmp_path / "decisions.jsonl", records)
    report = simulate_json(policy, "--traffic", log)
    assert report["requests"] == 40
    intents = {e["name"]: e["requests"] for e in report["by_intent"]}
    assert intents == {"code": 10, "chat": 30}
    models = {m["model"]: m["requests"] for m in report["by_model"]}
    assert models == {"coder": 10, "cheap": 30}
    expected_out = sum(o for n, (_, _, o) in enumerate(SAMPLE[:40]) if n != 3)
    assert report["output_tokens"] == expected_out  # a null output count replays as 0


def test_map_names_columns_and_unknown_consumers_are_reported(tmp_path, policy):
    rows = [
        (f"2024-05-01 10:00:{n:02d}", i, o, "code", "ghost")
        for n, (_, i, o) in enumerate(SAMPLE[:30])
    ]
    path = write_csv(tmp_path / "custom.csv", ["when", "p_tok", "c_tok", "task", "caller_id"], rows)
    report = simulate_json(
        policy, "--traffic", path, "--map", "timestamp=when", "--map", "input_tokens=p_tok",
        "--map", "output_tokens=c_tok", "--map", "intent=task", "--map", "consumer=caller_id",
    )  # fmt: skip
    assert report["by_model"] == []
    assert report["unroutable"]["reasons"] == [
        {"kind": "unroutable", "reason": "unknown consumer ghost", "requests": 30}
    ]


def test_traffic_spec_errors_are_located(tmp_path, policy):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"files:\n  - path: {CONV}\n    set: {{intnet: code}}\n", encoding="utf-8")
    result = simulate(policy, "--traffic", spec)
    assert result.exit_code == 2
    assert f"{spec}:3:" in result.stderr and "unknown feature 'intnet'" in result.stderr
    spec.write_text("files:\n  - path: missing.csv\n", encoding="utf-8")
    result = simulate(policy, "--traffic", spec)
    assert (
        result.exit_code == 2 and f"{spec}:2:" in result.stderr and "missing.csv" in result.stderr
    )


def bad_csv(tmp: Path, line: int, text: str, name: str = "bad.csv") -> Path:
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    lines += [f"{t},{i},{o}" for t, i, o in SAMPLE[:20]]
    lines[line - 1] = text
    path = tmp / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "text", "message"),
    [
        (4, "2023-11-16 18:15:50.99,-5,10", "negative input_tokens -5"),
        (5, "not-a-time,100,10", "unparseable timestamp 'not-a-time'"),
        (6, "2023-11-16 18:15:50.99,100", "expected 3 fields"),
        (7, "2023-11-16 18:15:50.99,12.5,10", "12.5' is not a whole number"),
    ],
)
def test_bad_csv_lines_are_located(tmp_path, policy, line, text, message):
    path = bad_csv(tmp_path, line, text)
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}:" in result.stderr
    assert message in result.stderr
    assert "--on-error skip" in result.stderr
    assert "Traceback" not in result.output


def test_wrong_encoding_is_located(tmp_path, policy):
    path = bad_csv(tmp_path, 3, "PLACEHOLDER")
    path.write_bytes(path.read_bytes().replace(b"PLACEHOLDER", b"2023-11-16 18:15:50,1\xe9,2"))
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2
    assert f"{path}:3: not valid UTF-8" in result.stderr


def test_malformed_json_line_is_located(tmp_path, policy):
    path = write_jsonl(tmp_path / "t.jsonl", azure_records()[:10])
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"TIMESTAMP": "2023-11-16 18:15:50", "ContextTokens": 5,'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2
    assert f"{path}:3: malformed JSON" in result.stderr


def test_missing_column_and_unknown_files(tmp_path, policy):
    path = write_csv(tmp_path / "no-out.csv", ["TIMESTAMP", "ContextTokens"], [("2024-01-01", 5)])
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2
    assert "missing column for output_tokens" in result.stderr
    assert "--map output_tokens=COLUMN" in result.stderr
    for args, message in (
        (["--traffic", tmp_path / "nope.csv"], "no such traffic file"),
        (["--traffic", write_csv(tmp_path / "t.txt", ["a"], [])], "unknown traffic format"),
        (["--traffic", CONV, "--map", "tokens=x"], "unknown feature 'tokens'"),
        (["--traffic", CONV, "--set", "intent"], "expected FEATURE=VALUE"),
        (["--traffic", CONV, "--map", "intent=nope"], "no column 'nope'"),
    ):
        result = simulate(policy, *args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_skip_counts_bad_lines_and_replays_the_rest(tmp_path, policy):
    path = bad_csv(tmp_path, 4, "2023-11-16 18:15:50.99,-5,10")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[8] = "garbage"
    path.write_text("\n".join(lines), encoding="utf-8")
    report = simulate_json(policy, "--traffic", path, "--on-error", "skip")
    assert report["requests"] == 18
    assert report["traffic"]["skipped"] == 2
    assert report["traffic"]["files"][0]["skipped"] == 2
    assert [e.split(": ")[0] for e in report["traffic"]["errors"]] == [f"{path}:4", f"{path}:9"]
    good = [row for n, row in enumerate(SAMPLE[:20], 2) if n not in (4, 9)]
    assert report["cost"]["total"] == pytest.approx(sum(i + 2 * o for _, i, o in good) / 1e6)


def test_a_bad_value_past_the_sniffed_sample_is_located_not_rounded(tmp_path, policy):
    # An engine that guesses column types from the first rows reads a later "12.5" in a
    # column it took for integers as 13, and a later "1e3" as 1000: every value is
    # read as text and checked, whatever the first rows looked like.
    rows = [
        f"2023-11-16 18:{n // 60 % 60:02d}:{n % 60:02d},{100 + n % 7},10" for n in range(30_000)
    ]
    path = tmp_path / "late.csv"
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens", *rows]
    lines += ["2023-11-16 19:00:00,12.5,10", "2023-11-16 19:00:01,1e3,10"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2, result.output
    assert f"{path}:30002: ContextTokens: '12.5' is not a whole number" in result.stderr
    assert f"{path}:30003: ContextTokens: '1e3' is not a whole number" in result.stderr


def test_lines_are_counted_past_quoted_line_breaks_blank_lines_and_rejects(tmp_path, policy):
    path = tmp_path / "shaped.csv"
    text = (
        "TIMESTAMP,ContextTokens,GeneratedTokens,prompt\n"  # 1
        '2023-11-16 18:15:50,100,10,"two\nlines"\n'  # 2-3
        "\n"  # 4
        "2023-11-16 18:15:51,100\n"  # 5: a field short
        "2023-11-16 18:15:52,-3,10,x\n"  # 6
        '2023-11-16 18:15:53,100,10,"three\n\nlines"\n'  # 7-9
        "2023-11-16 18:15:54,100,abc,y\n"  # 10
    )
    path.write_text(text, encoding="utf-8")
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2, result.output
    located = [
        line.removeprefix("error: ").split(": ")[0]
        for line in result.stderr.splitlines()
        if str(path) in line
    ]
    assert located == [f"{path}:5", f"{path}:6", f"{path}:10"], result.stderr
    assert "expected 4 fields (TIMESTAMP, ContextTokens, GeneratedTokens, prompt), found 2" in (
        result.stderr
    )


def test_json_lines_problems_are_located_by_line(tmp_path, policy):
    path = tmp_path / "t.jsonl"
    good = '{"TIMESTAMP": "2023-11-16 18:15:50", "ContextTokens": 5, "GeneratedTokens": 2}'
    lines = [
        good,  # 1
        "",  # 2
        "[1, 2]",  # 3
        good.replace("5,", "5.5,"),  # 4
        good.replace('"2023-11-16 18:15:50"', '"yesterday"'),  # 5
        good.replace("}", ', "metadata": [1]}'),  # 6
        good,  # 7
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"ContextTokens": "\xff"}\n'  # 8
    path.write_bytes(raw)
    report = simulate_json(policy, "--traffic", path, "--on-error", "skip")
    assert report["requests"] == 2
    assert report["traffic"]["skipped"] == 5
    assert report["traffic"]["errors"] == [
        f"{path}:3: expected a JSON object per line",
        f"{path}:4: ContextTokens: '5.5' is not a whole number of input_tokens",
        f"{path}:5: TIMESTAMP: unparseable timestamp 'yesterday'; expected ISO 8601 "
        "(2023-11-16 18:17:03.97 or 2024-05-01T12:00:00Z) or epoch seconds",
        f"{path}:6: metadata: expected a JSON object of strings",
        f"{path}:8: not valid UTF-8; re-encode the file as UTF-8",
    ]


def test_parquet_rows_are_located_and_offsets_are_honoured(tmp_path, policy):
    import duckdb

    path = tmp_path / "t.parquet"
    duckdb.connect().execute(
        f"""COPY (SELECT * FROM (VALUES
            ('2024-05-01T12:00:00+02:00', 5, 2),
            ('2024-05-01 10:00:00', -1, 2),
            ('1714557600', 5, 2)) AS t(ts, input_tokens, output_tokens))
        TO '{path}' (FORMAT parquet)"""
    )
    result = simulate(policy, "--traffic", path)
    assert result.exit_code == 2
    assert f"{path}:2: input_tokens: negative input_tokens -1; expected >= 0" in result.stderr
    report = simulate_json(policy, "--traffic", path, "--on-error", "skip")
    # +02:00 is 10:00 UTC; so is the epoch second 1714557600.
    assert report["traffic"]["start"].startswith("2024-05-01 10:00:00")
    assert report["traffic"]["end"].startswith("2024-05-01 10:00:00")


def test_a_named_time_zone_is_converted_not_dropped(tmp_path, policy):
    # "12:00 Europe/Berlin" is 10:00 UTC in May; it was read as 12:00, its zone dropped.
    path = write_csv(
        tmp_path / "zoned.csv",
        AZURE_HEADER,
        [
            ("2024-05-01 12:00:00 Europe/Berlin", 5, 2),
            ("2024-05-01 10:30:00 UTC", 5, 2),
            # read without their zones, these would be hours before 10:00
            ("2024-05-01 05:15:00 EST", 5, 2),
            ("2024-05-01T05:20:00-05:00", 5, 2),
            ("2024-05-01 05:25-05", 5, 2),
        ],
    )
    report = simulate_json(policy, "--traffic", path)
    assert report["traffic"]["start"].startswith("2024-05-01 10:00:00")
    assert report["traffic"]["end"].startswith("2024-05-01 10:30:00")


@pytest.mark.parametrize(
    "shape, message",
    [
        ("null", "expected a JSON object per line"),
        ("{}", "missing input_tokens"),
        ('{"ContextTokens": 1, "ContextTokens": 2, "GeneratedTokens": 1}', None),
        ("42", "expected a JSON object per line"),
    ],
)
def test_every_json_line_shape_is_judged_alike_wherever_it_is(tmp_path, policy, shape, message):
    # A line far into a large file is judged as it would be on line 2: the faster read
    # a clean file gets must not let a shape through that the line-by-line read refuses.
    records = [json.dumps(r) for r in azure_records()] * 60  # 24,000 lines
    records.insert(20_000, shape)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(records) + "\n", encoding="utf-8")
    report = simulate_json(
        policy, "--traffic", path, "--on-error", "skip", "--set", "output_tokens=1"
    )
    if message is None:  # a key given twice: the line is read as the line reader reads it
        assert report["traffic"]["skipped"] == 0
        assert report["requests"] == 24_001
        return
    assert report["requests"] == 24_000
    assert report["traffic"]["skipped"] == 1
    assert report["traffic"]["errors"][0].startswith(f"{path}:20001: ")
    assert message in report["traffic"]["errors"][0]


def test_a_bad_set_value_is_named_before_any_read(tmp_path, policy):
    result = simulate(policy, "--traffic", CONV, "--set", "output_tokens=2.5")
    assert result.exit_code == 2
    assert "--set output_tokens=2.5: '2.5' is not a whole number of output_tokens" in (
        result.stderr
    )


def test_traffic_is_read_by_the_engine_only():
    """No Python parser beside the engine's: the modules that read traffic do not parse
    CSV or JSON themselves."""
    import ast

    import routectl.simulate as package

    root = Path(package.__file__).parent
    for name in ("sources.py", "reader.py", "formats.py", "scan.py", "spark.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [node])
            if isinstance(alias, ast.alias)
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & {"csv", "json", "gzip", "pyarrow"}, (name, imported)
