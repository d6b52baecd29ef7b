"""Core benchmark: resolve, decide and lint on the examples and on a generated 5,000-route policy.

    python benchmarks/bench_core.py [--routes 5000] [--requests 20000] [--seed 7]

Every figure is printed next to a baseline measured in the same run, so the
ratios compare across machines:

- decide(): µs per decision against the 50 µs budget, and against a bare
  Python loop that looks each request's (intent, classification) up in a dict
  (the cheapest thing a router could possibly do per request);
- the full planner without the memo (``_plan_uncached``), to show what the
  memo saves;
- lint time against plain YAML parsing of the same files (ruamel's C loader).

The generated policy is written to a temporary directory and removed afterwards.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

try:  # the fastest plain YAML parser around, as the floor for loading and lint
    from yaml import CSafeLoader as _FastLoader
    from yaml import load_all as _load_all

    def plain_yaml(text: str) -> list[object]:
        return list(_load_all(text, Loader=_FastLoader))

    PLAIN_YAML = "PyYAML C loader"
except ImportError:  # pragma: no cover - PyYAML is optional here
    from ruamel.yaml import YAML

    def plain_yaml(text: str) -> list[object]:
        return list(YAML(typ="safe").load_all(text))

    PLAIN_YAML = "ruamel safe loader"

from routectl.core.evaluator import _plan_uncached, choose, decide
from routectl.core.policy import Policy, resolve
from routectl.core.policytest import request_of
from routectl.core.request import Request
from routectl.loader.yaml_source import load_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "policies"
BUDGET_US = 50.0
HEADER = "apiVersion: routectl.dev/v1\n"

COUNTRIES = ["DE", "FR", "SE", "IT", "NL", "US", "TR", "SA", "AE", "AZ", "GB", "JP"]
REGIONS = ["EU", "EEA", "GCC"]
CERTS = ["iso27001", "soc2", "hipaa-baa", "gdpr-dpa", "tisax", "zdr"]
CAPABILITIES = ["chat", "code", "json", "tools", "vision", "reasoning"]
LANGUAGES = ["en", "de", "fr", "tr", "ar", "es", "it"]
CONTEXTS = [8192, 32768, 131072, 200000, 1048576]


# --------------------------------------------------------------------------- the generated policy


def generate(directory: Path, routes: int, rng: random.Random) -> dict[str, list[str]]:
    """Write a policy with ``routes`` routes and matching providers, models and classes."""
    providers = [f"provider-{i}" for i in range(max(10, routes // 100))]
    models = [f"model-{i}" for i in range(max(40, routes // 10))]
    classes = [f"class-{i}" for i in range(12)]
    intents = [f"intent-{i}" for i in range(max(20, routes // 50))]
    tiers = ["lightweight", "standard", "capable"]
    consumers = [f"consumer-{i}" for i in range(50)]

    def write(name: str, docs: list[str]) -> None:
        (directory / name).write_text("---\n".join(HEADER + d for d in docs), encoding="utf-8")

    write(
        "tiers.yaml",
        [
            f"kind: Tier\nmetadata: {{name: {t}}}\nspec: {{rank: {i}}}\n"
            for i, t in enumerate(tiers)
        ],
    )
    write(
        "providers.yaml",
        [
            f"kind: Provider\nmetadata: {{name: {p}}}\nspec:\n"
            f"  baseUrl: https://{p}.example.com/v1\n"
            f"  jurisdiction: {rng.choice(COUNTRIES)}\n"
            f"  hosting: {rng.choice(['hosted', 'hosted', 'on-prem', 'sovereign'])}\n"
            f"  certifications: [{', '.join(rng.sample(CERTS, rng.randint(0, 3)))}]\n"
            f'  credentials: {{apiKey: "env:KEY_{i}"}}\n'
            for i, p in enumerate(providers)
        ],
    )
    model_docs = []
    for m in models:
        context = rng.choice(CONTEXTS)
        model_docs.append(
            f"kind: Model\nmetadata: {{name: {m}}}\nspec:\n"
            f"  provider: {rng.choice(providers)}\n  upstreamModel: upstream/{m}\n"
            f"  tier: {rng.choice(tiers)}\n"
            f"  capabilities: [chat, {', '.join(rng.sample(CAPABILITIES[1:], 2))}]\n"
            f"  languages: [{', '.join(rng.sample(LANGUAGES, rng.choice([0, 0, 2, 3])))}]\n"
            f"  openWeight: {rng.choice(['true', 'false'])}\n"
            f"  contextWindow: {context}\n  maxOutputTokens: {min(context, 16384)}\n"
            f"  pricing: {{input: {rng.uniform(0.05, 5):.3f}, "
            f"output: {rng.uniform(0.2, 20):.3f}}}\n"
        )
    write("models.yaml", model_docs)
    class_docs = []
    for n, c in enumerate(classes):
        # a third of the classes are unrestricted, the others regional, some need a certificate
        jurisdictions = rng.sample(COUNTRIES + REGIONS, 6) if n % 3 else []
        certs = rng.sample(CERTS, 1) if n % 4 == 1 else []
        class_docs.append(
            f"kind: Classification\nmetadata: {{name: {c}}}\nspec:\n  allow:\n"
            f"    jurisdictions: [{', '.join(jurisdictions)}]\n"
            f"    certifications: [{', '.join(certs)}]\n"
        )
    write("classifications.yaml", class_docs)
    write(
        "intents.yaml",
        [
            f"kind: Intent\nmetadata: {{name: {i}}}\nspec:\n"
            f"  requires: [{rng.choice(CAPABILITIES)}]\n"
            f"  detect: {{keywords: [keyword-{n}]}}\n" + ("  default: true\n" if n == 0 else "")
            for n, i in enumerate(intents)
        ],
    )
    per_file = 500
    for start in range(0, routes, per_file):
        docs = []
        for n in range(start, min(routes, start + per_file)):
            strategy = rng.choice(["priority", "priority", "cheapest", "weighted"])
            targets = []
            for _ in range(rng.randint(1, 3)):
                weight = f", weight: {rng.randint(1, 100)}" if strategy == "weighted" else ""
                if rng.random() < 0.15:
                    targets.append(f"{{tier: {rng.choice(tiers)}{weight}}}")
                else:
                    targets.append(f"{{model: {rng.choice(models)}{weight}}}")
            shadows = ""
            if rng.random() < 0.1:
                shadows = f"  shadows: [{{model: {rng.choice(models)}, percent: 5}}]\n"
            match_classes = rng.sample(classes, rng.choice([0, 0, 1, 2]))
            match_languages = rng.sample(LANGUAGES, rng.choice([0, 0, 0, 1]))
            docs.append(
                f"kind: Route\nmetadata: {{name: route-{n}}}\nspec:\n"
                f"  order: {n}\n"
                f"  match: {{intents: [{rng.choice(intents)}], "
                f"classifications: [{', '.join(match_classes)}], "
                f"languages: [{', '.join(match_languages)}]}}\n"
                f"  strategy: {strategy}\n  targets: [{', '.join(targets)}]\n"
                f"  fallback: {{chain: [{', '.join(rng.sample(models, rng.randint(0, 3)))}]}}\n"
                + shadows
                + (
                    f"  constraints: {{maxCostPerRequest: {rng.uniform(0.01, 1):.3f}}}\n"
                    if rng.random() < 0.2
                    else ""
                )
            )
        write(f"routes-{start // per_file:03d}.yaml", docs)
    # Catch-all routes so that most requests are routable.
    write(
        "zz-default.yaml",
        [
            "kind: Route\nmetadata: {name: default}\nspec:\n  order: 1000000\n"
            "  strategy: cheapest\n  targets: [{tier: lightweight}, {tier: standard}]\n"
        ],
    )
    write(
        "experiments.yaml",
        [
            f"kind: Experiment\nmetadata: {{name: experiment-{n}}}\nspec:\n"
            f"  route: route-{rng.randrange(routes)}\n  candidate: {rng.choice(models)}\n"
            f"  percent: {rng.choice([1, 5, 10, 50])}\n  mode: {rng.choice(['live', 'shadow'])}\n"
            for n in range(max(1, routes // 50))
        ],
    )
    write(
        "consumers.yaml",
        [
            f"kind: Consumer\nmetadata: {{name: {c}}}\n"
            f'spec: {{team: team-{n % 5}, apiKey: "env:C_{n}"}}\n'
            for n, c in enumerate(consumers)
        ],
    )
    return {"intents": intents, "classes": classes, "consumers": consumers}


def request_mix(names: dict[str, list[str]], count: int, rng: random.Random) -> list[Request]:
    """Traffic-like requests: mostly known intents and classes, some detection, some unknowns."""
    out = []
    for n in range(count):
        roll = rng.random()
        out.append(
            Request(
                intent=rng.choice(names["intents"]) if roll < 0.8 else None,
                classification=rng.choice(names["classes"]) if rng.random() < 0.95 else None,
                language=rng.choice(LANGUAGES + [None]),
                consumer=rng.choice(names["consumers"]) if rng.random() < 0.3 else None,
                input_tokens=int(rng.lognormvariate(7, 1.2)),
                output_tokens=int(rng.lognormvariate(5, 1)),
                request_id=f"req-{n}",
                prompt=f"please keyword-{rng.randrange(len(names['intents']))}"
                if roll >= 0.9
                else None,
            )
        )
    return out


def example_requests() -> list[tuple[Policy, Request]]:
    """Every example's policy-test requests, plus the same requests with other token counts."""
    pairs = []
    rng = random.Random(1)
    for directory in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        result = load_paths([directory])
        policy = resolve(d.doc for d in result.documents)
        for doc in result.documents:
            if doc.kind != "PolicyTest":
                continue
            for case in doc.doc.spec.cases:
                request = request_of(case)
                pairs.append((policy, request))
                for k in range(20):
                    pairs.append(
                        (
                            policy,
                            Request(
                                intent=request.intent,
                                classification=request.classification,
                                language=request.language,
                                consumer=request.consumer,
                                input_tokens=rng.randint(100, 8000),
                                output_tokens=rng.randint(16, 1024),
                                metadata=request.metadata,
                                request_id=f"{request.request_id}-{k}",
                                prompt=request.prompt,
                            ),
                        )
                    )
    return pairs


# --------------------------------------------------------------------------- measuring


def per_request(seconds: float, count: int) -> float:
    return seconds / count * 1e6


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """The fastest of ``runs`` runs, in seconds (least disturbed by other processes)."""
    return min(timed(fn) for _ in range(runs))


def interleaved(rounds: int, **fns: Callable[[], object]) -> dict[str, float]:
    """Best time of each function, run in turns so that all see the same machine load."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn))
    return best


def measure_decisions(
    pairs: Sequence[tuple[Policy, Request]], unseen: Sequence[tuple[Policy, Request]] = ()
) -> dict[str, float]:
    """µs per request: first pass (memo empty), unseen requests, steady state, no memo, floor."""

    def cold() -> None:
        for policy, _ in pairs:
            policy._plan_cache.clear()
        for policy, request in pairs:
            decide(policy, request)

    def warm() -> None:
        for policy, request in pairs:
            decide(policy, request)

    def fresh() -> None:
        # New request ids and token counts from the same traffic, after the first pass.
        for policy, request in unseen:
            decide(policy, request)

    def uncached() -> None:
        for policy, request in pairs:
            choose(_plan_uncached(policy, request), request)

    # The floor: one dict lookup per request, on the same request objects.
    table = {(r.intent, r.classification): "model" for _, r in pairs}

    def floor() -> None:
        for _, request in pairs:
            table.get((request.intent, request.classification))

    n = len(pairs)
    figures = {"first": per_request(timed(cold), n)}
    if unseen:
        figures["unseen"] = per_request(timed(fresh), len(unseen))
    best = interleaved(5, warm=warm, uncached=uncached, floor=floor)
    return figures | {name: per_request(seconds, n) for name, seconds in best.items()}


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<30}{value:>12}  {note}")


def report_decisions(title: str, figures: dict[str, float]) -> None:
    warm, floor, uncached = figures["warm"], figures["floor"], figures["uncached"]
    print(f"\n{title}")
    row("decide(), steady state", f"{warm:.2f} µs", f"{1e6 / warm:,.0f} decisions/s")
    row("decide(), first pass", f"{figures['first']:.2f} µs", "memo empty at the start")
    if "unseen" in figures:
        row("decide(), unseen requests", f"{figures['unseen']:.2f} µs", "same traffic, after it")
    row("full planner, no memo", f"{uncached:.2f} µs", f"the memo saves x{uncached / warm:.1f}")
    row("baseline: a dict lookup", f"{floor:.2f} µs", f"decide() = x{warm / floor:.0f} the floor")
    row("budget", f"{BUDGET_US:.0f} µs", f"decide() uses {warm / BUDGET_US:.0%} of it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print(f"python {sys.version.split()[0]}, routes={args.routes:,}, requests={args.requests:,}")

    pairs = example_requests()
    report_decisions(
        f"examples ({len(pairs):,} requests over 9 policies)", measure_decisions(pairs)
    )

    workdir = Path(tempfile.mkdtemp(prefix="routectl-bench-core-"))
    try:
        names = generate(workdir, args.routes, rng)
        files = sorted(workdir.glob("*.yaml"))
        size = sum(f.stat().st_size for f in files) / 1024 / 1024

        result = load_paths([workdir])
        assert result.ok, [str(e) for e in result.errors[:5]]
        try:
            from routectl.lint import lint_paths
        except ImportError:  # the linter is optional for this benchmark
            lint_paths = None
        steps: dict[str, Callable[[], object]] = {
            "yaml": lambda: [plain_yaml(f.read_text(encoding="utf-8")) for f in files],
            "load": lambda: load_paths([workdir]),
        }
        if lint_paths is not None:
            steps["lint"] = lambda: lint_paths([workdir])
        best = interleaved(2, **steps)
        yaml_s, load_s = best["yaml"], best["load"]
        docs = [d.doc for d in result.documents]
        resolve_s = best_of(3, lambda: resolve(docs))
        policy = resolve(docs)
        print(
            f"\ngenerated policy: {len(result.documents):,} documents, "
            f"{len(policy.routes):,} routes, {len(policy.models):,} models, "
            f"{len(files)} files, {size:.1f} MiB"
        )
        row("baseline: plain YAML parse", f"{yaml_s:.2f} s", f"{PLAIN_YAML}, no validation")
        row(
            "load + validate (located)", f"{load_s:.2f} s", f"x{load_s / yaml_s:.1f} the YAML parse"
        )
        row("resolve()", f"{resolve_s * 1000:.1f} ms", f"x{resolve_s / yaml_s:.2f} the YAML parse")

        mix = [(policy, r) for r in request_mix(names, args.requests, rng)]
        unseen = [(policy, r) for r in request_mix(names, args.requests, rng)]
        routable = sum(1 for p, r in mix if decide(p, r).routable)
        report_decisions(
            f"generated policy ({len(mix):,} requests, {routable / len(mix):.0%} routable)",
            measure_decisions(mix, unseen),
        )

        if lint_paths is None:
            print("\nlint: routectl.lint is not available in this checkout")
        else:
            lint_s = best["lint"]
            findings = len(lint_paths([workdir]).findings)
            print(f"\nlint on the generated policy ({findings:,} findings)")
            row("lint_paths()", f"{lint_s:.2f} s", f"x{lint_s / yaml_s:.1f} the plain YAML parse")
            row("", "", f"x{lint_s / load_s:.1f} load + validate")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
