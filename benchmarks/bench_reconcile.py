"""How fast ``routectl plan`` / ``apply`` reconcile a large policy, against the floor.

    python benchmarks/bench_reconcile.py              # 1,000 providers, models and routes
    python benchmarks/bench_reconcile.py --size 3000

The policy is generated: ``--size`` providers, as many models (one per
provider) and as many routes (each a weighted 90/10 split over two models,
with a fallback), plus a tier, an intent and a classification.

In one run it times, as whole processes (what a user waits for):
  plan (empty gateway), apply, plan again (no changes), apply again (must
  write nothing: the store's revision must not move), and plan over HTTP
  against the admin API (admin_app under uvicorn on 127.0.0.1);
and, in-process, the floor each one cannot beat:
  load = reading and validating the manifests into desired state,
  lint = lint's rules over them (a plan refuses a policy with lint errors),
  store = one raw AdminService.apply of the same resources into a fresh store,
  startup = a whole ``routectl plan --help`` process (best of three).
It prints every time and the ratios plan/(startup+load+lint) and
apply/(startup+load+lint+store). Targets: both ratios <= 2; the second apply
writes nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROUTECTL = [sys.executable, "-m", "routectl.cli.main"]


def generate(directory: Path, size: int) -> None:
    directory.mkdir(parents=True)
    head = "apiVersion: routectl.dev/v1\n"
    common = [
        f"{head}kind: Tier\nmetadata: {{name: standard}}\nspec: {{rank: 1}}\n",
        f"{head}kind: Intent\nmetadata: {{name: chat}}\nspec: {{default: true}}\n",
        f"{head}kind: Classification\nmetadata: {{name: internal}}\n"
        "spec: {allow: {jurisdictions: [EU]}}\n",
    ]
    (directory / "common.yaml").write_text("---\n".join(common))
    providers, models, routes = [], [], []
    for i in range(size):
        providers.append(
            f"{head}kind: Provider\nmetadata: {{name: p{i}}}\nspec:\n"
            f"  baseUrl: https://p{i}.example/v1\n  jurisdiction: DE\n"
            f"  credentials: {{apiKey: env:P{i}_KEY}}\n"
        )
        models.append(
            f"{head}kind: Model\nmetadata: {{name: m{i}}}\nspec:\n  provider: p{i}\n"
            f"  upstreamModel: model-{i}\n  tier: standard\n  contextWindow: 128000\n"
            f"  maxOutputTokens: 4096\n  pricing: {{input: {1 + i % 7}, output: {3 + i % 5}}}\n"
        )
        a, b, c = f"m{i}", f"m{(i + 1) % size}", f"m{(i + 2) % size}"
        routes.append(
            f"{head}kind: Route\nmetadata: {{name: r{i}}}\nspec:\n  order: {i}\n"
            f"  match: {{metadata: {{app: a{i}}}}}\n  strategy: weighted\n  targets:\n"
            f"    - {{model: {a}, weight: 90}}\n    - {{model: {b}, weight: 10}}\n"
            f"  fallback: {{chain: [{c}]}}\n"
        )
    for name, docs in (("providers", providers), ("models", models), ("routes", routes)):
        (directory / f"{name}.yaml").write_text("---\n".join(docs))


def timed(args: list[str], cwd: Path, expect: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run([*ROUTECTL, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        sys.exit(f"routectl {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def floor_load(policy: Path) -> tuple[float, float, dict]:
    """Seconds to load + validate, seconds to lint (plan refuses lint errors), desired state."""
    from routectl.core.state import desired_state
    from routectl.lint import lint_loaded
    from routectl.loader.yaml_source import load_paths

    start = time.perf_counter()
    result = load_paths([policy])
    desired = desired_state((d.doc for d in result.documents), owner="bench")
    loaded = time.perf_counter()
    lint_loaded(result)
    return loaded - start, time.perf_counter() - loaded, desired


def floor_store(desired: dict, db: Path) -> float:
    from routectl.admin.service import AdminService
    from routectl.store.sqlite import SqliteStore

    store = SqliteStore(db)
    ops = [
        {
            "action": "create",
            "kind": r.kind,
            "name": r.name,
            "resource": {"spec": r.spec, "owner": r.owner, "labels": {}},
        }
        for r in desired.values()
    ]
    start = time.perf_counter()
    AdminService(store).apply({"author": "bench", "operations": ops}, 0)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def revision(db: Path) -> int:
    from routectl.store.sqlite import SqliteStore

    store = SqliteStore(db)
    try:
        return store.current_revision()
    finally:
        store.close()


def http_plan(policy: Path, db: Path, work: Path) -> float:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from routectl.admin.http import admin_app
    from routectl.admin.service import AdminService
    from routectl.store.sqlite import SqliteStore

    store = SqliteStore(db)
    app = Starlette(routes=[Mount("/admin/v1", app=admin_app(AdminService(store), "bench"))])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    os.environ["ROUTECTL_TOKEN"] = "bench"
    try:
        return timed(
            [
                "plan",
                str(policy),
                "--gateway",
                f"http://127.0.0.1:{port}",
                "--owner",
                "bench",
                "--detailed-exitcode",
            ],
            work,
        )
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        work = Path(tmp)
        policy = work / "policy"
        generate(policy, args.size)
        db = work / "gateway.db"
        store = ["--store", f"sqlite:///{db}", "--owner", "bench"]

        # What a plan pays before reading a file: the interpreter and the
        # plan command's own imports (best of three, so a cold cache does not count).
        startup = min(timed(["plan", "--help"], work) for _ in range(3))
        load, lint, desired = floor_load(policy)
        store_apply = floor_store(desired, work / "floor.db")

        plan_cold = timed(["plan", str(policy), *store], work)
        apply_first = timed(["apply", str(policy), "--auto-approve", *store], work)
        after_first = revision(db)
        plan_warm = timed(["plan", str(policy), "--detailed-exitcode", *store], work)
        apply_again = timed(["apply", str(policy), "--auto-approve", *store], work)
        after_again = revision(db)
        plan_http = http_plan(policy, db, work)

    resources = len(desired)
    print(f"policy: {args.size} providers, models and routes ({resources} resources)")
    print(f"  floor  startup (routectl plan --help)   {startup:7.2f} s")
    print(f"  floor  load + validate manifests         {load:7.2f} s")
    print(f"  floor  lint (error rules gate a plan)    {lint:7.2f} s")
    print(f"  floor  raw store apply of all resources  {store_apply:7.2f} s")
    print(f"  plan   against an empty gateway          {plan_cold:7.2f} s")
    print(f"  apply  all resources                     {apply_first:7.2f} s")
    print(f"  plan   again (no changes)                {plan_warm:7.2f} s")
    print(f"  apply  again (nothing to do)             {apply_again:7.2f} s")
    print(f"  plan   over HTTP (no changes)            {plan_http:7.2f} s")
    plan_ratio = plan_warm / (startup + load + lint)
    apply_ratio = apply_first / (startup + load + lint + store_apply)
    print(f"ratio plan / (startup + load + lint)           {plan_ratio:5.2f}  (target <= 2)")
    print(f"ratio apply / (startup + load + lint + store)  {apply_ratio:5.2f}  (target <= 2)")
    moved = after_again != after_first
    print(f"second apply wrote nothing: {not moved} (revision {after_first} -> {after_again})")
    if moved:
        sys.exit("FAIL: the second apply moved the revision")


if __name__ == "__main__":
    main()
