"""Fuzzing the offline pipeline: mutated manifests and traffic files through
load -> lint -> explain -> simulate, in process.

Shared by the fast test (tests/hardening/test_fuzz_offline.py) and the reliability
benchmark (benchmarks/bench_reliability.py), which differ only in how many inputs they
run. Each input is one mutated policy (the examples' manifests, concatenated, then
mutated line by line) and one generated or mutated traffic file; an input passes when no
step raises anything but the located errors the CLI prints, every error has a file and a
line, and no step takes over :data:`STEP_LIMIT_S`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from routectl.cli.common import LoadedPolicy
from routectl.core.evaluator import decide
from routectl.core.policy import resolve
from routectl.core.request import Request
from routectl.lint.engine import lint_loaded
from routectl.loader.yaml_source import load_paths
from routectl.simulate.run import SimulateArgs, SimulateFailed, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "policies"
STEP_LIMIT_S = 5.0

TOKENS = [
    "0", "-1", "1e308", "-0.0", "99999999999999999999", "null", "~", "true", "''", '""',
    "[]", "{}", "[", "{", "}", "&a", "*a", "*nope", "!!python/object:os.system", "!!binary x",
    "é", "\u202e", "\x00", "\t", "a" * 5000, "env:ROUTECTL_ADMIN_TOKEN", "file:/etc/passwd",
    "http://[::1", "- x", ": :", "? k", "|", ">", "%YAML 1.1", "---", "...", "<<: *a",
    "{a: 1, a: 2}", "[" * 60 + "]" * 60, "NaN", ".inf", "2025-13-45", "DE", "pii", "m-x",
]  # fmt: skip


def example_texts() -> list[str]:
    texts = []
    for directory in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
        docs = [f.read_text(encoding="utf-8").strip() for f in files]
        texts.append("\n---\n".join(d.removeprefix("---").strip() for d in docs) + "\n")
    return texts


def mutate_manifest(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not lines:
            lines = [rng.choice(TOKENS)]
        i = rng.randrange(len(lines))
        op = rng.choice((0, 1, 2, 2, 2, 2, 3, 4, 5, 6, 7, 7, 8))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2 and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(TOKENS)}"
        elif op == 3:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 4:
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: rng.randrange(len(lines[-1]) + 1)]
        elif op == 5:
            lines[i] = " " * rng.randrange(1, 5) + lines[i]
        elif op == 6:
            lines.insert(i, rng.choice(TOKENS))
        elif op == 7:
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + rng.choice(TOKENS) + lines[i][cut:]
        else:
            lines[i] = lines[i].replace(" ", "", 1)
    return "\n".join(lines) + "\n"


FEATURES = ["intent", "classification", "language", "consumer", "input_tokens",
            "output_tokens", "timestamp", "request_id", "session"]  # fmt: skip
VALUES = ["chat", "code", "pii", "public", "phi", "en", "tr", "de", "", "0", "-5", "1e9",
          "2025-01-31T12:00:00Z", "yesterday", "12", "999999999999", "null", "é", "a,b",
          '"']  # fmt: skip


def traffic_file(directory: Path, rng: random.Random) -> Path:
    """A small traffic file: CSV or JSONL, mostly well-formed, with mutated rows."""
    columns = rng.sample(FEATURES, rng.randint(1, len(FEATURES)))
    if rng.random() < 0.9:  # mostly replayable: the token columns present
        columns += [c for c in ("input_tokens", "output_tokens") if c not in columns]
    rows = []
    for _ in range(rng.randint(0, 12)):
        row = {}
        for column in columns:
            if column in ("input_tokens", "output_tokens"):
                valid = rng.random() < 0.9
                row[column] = str(rng.randint(0, 200_000) if valid else rng.choice(VALUES))
            elif column == "timestamp":
                row[column] = f"2025-01-31T12:{rng.randint(0, 59):02d}:00Z"
            else:
                row[column] = rng.choice(VALUES)
        rows.append(row)
    if rng.random() < 0.5:
        import json

        path = directory / "traffic.jsonl"
        lines = [json.dumps(r) for r in rows]
        if lines and rng.random() < 0.3:
            lines[rng.randrange(len(lines))] = rng.choice(TOKENS)
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    else:
        path = directory / "traffic.csv"
        lines = [",".join(columns)] + [",".join(r[c] for c in columns) for r in rows]
        if rng.random() < 0.3:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(TOKENS))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Outcome:
    inputs: int = 0
    loaded: int = 0
    simulated: int = 0
    tracebacks: list[str] = field(default_factory=list)
    unlocated: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    slowest_s: float = 0.0


def _timed(outcome: Outcome, label: str, started: float) -> None:
    took = time.perf_counter() - started
    outcome.slowest_s = max(outcome.slowest_s, took)
    if took > STEP_LIMIT_S:
        outcome.slow.append(f"{label}: {took:.1f} s")


class _Step:
    def __call__(self, *args: object, **kwargs: object) -> None:
        return None

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def run_one(directory: Path, manifest: str, rng: random.Random, outcome: Outcome) -> None:
    """One input through the pipeline; findings go into ``outcome``."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    (directory / "policy.yaml").write_text(manifest, encoding="utf-8", errors="surrogatepass")
    traffic = traffic_file(directory, rng)
    outcome.inputs += 1
    label = f"input {outcome.inputs}"
    try:
        started = time.perf_counter()
        result = load_paths([str(directory / "policy.yaml")])
        _timed(outcome, f"{label} load", started)
        for error in result.errors:
            if not error.location.file or error.location.line < 1:
                outcome.unlocated.append(f"{label}: {error}")
        started = time.perf_counter()
        report = lint_loaded(result)
        _timed(outcome, f"{label} lint", started)
        for finding in report.findings:
            if not finding.location.file or finding.location.line < 1:
                outcome.unlocated.append(f"{label}: {finding.code} {finding.message}")
        if result.errors or not result.documents:
            return
        outcome.loaded += 1
        started = time.perf_counter()
        policy = resolve(d.doc for d in result.documents)
        for _ in range(3):
            decide(
                policy,
                Request(
                    intent=rng.choice([None, *policy.intents, "nope"]),
                    classification=rng.choice([None, *policy.classifications, "nope"]),
                    language=rng.choice([None, "en", "tr"]),
                    consumer=rng.choice([None, *policy.consumers, "nope"]),
                    input_tokens=rng.choice([0, 100, 10**7]),
                    output_tokens=rng.choice([0, 256, 10**6]),
                    request_id=str(rng.random()),
                    prompt=rng.choice([None, "", "analyze this code", "x" * 1000]),
                ),
            )
        _timed(outcome, f"{label} explain", started)
        started = time.perf_counter()
        loaded = LoadedPolicy(result.documents, policy, result.files)
        try:
            run(
                SimulateArgs(path=str(directory), traffic=[str(traffic)]),
                loaded,
                None,
                None,
                _Step(),
            )
            outcome.simulated += 1
        except SimulateFailed as exc:
            for line in exc.lines:
                if traffic.name not in line and "traffic" not in line:
                    outcome.unlocated.append(f"{label} simulate: {line}")
        _timed(outcome, f"{label} simulate", started)
    except Exception as exc:  # the finding this fuzzer exists for
        outcome.tracebacks.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
        (directory.parent / f"traceback-{outcome.inputs}.yaml").write_text(
            manifest, encoding="utf-8", errors="surrogatepass"
        )


def fuzz(count: int, workdir: Path, seed: int = 14) -> Outcome:
    rng = random.Random(seed)
    bases = example_texts()
    outcome = Outcome()
    for _ in range(count):
        run_one(workdir / "input", mutate_manifest(rng.choice(bases), rng), rng, outcome)
    return outcome
