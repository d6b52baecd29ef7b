"""``routectl init``: a starter policy repository that lints, tests and simulates clean.

The files come from templates in ``scaffold/``; the sample traffic is generated
(deterministically) so that it exercises both routes and every data class.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from routectl import __version__

DEFAULT_ACTION = "routectl/routectl"

# Destination (relative to the new repository) -> template in scaffold/.
FILES: dict[str, str] = {
    "policy/providers.yaml": "providers.yaml.j2",
    "policy/models.yaml": "models.yaml.j2",
    "policy/classifications.yaml": "classifications.yaml.j2",
    "policy/intents.yaml": "intents.yaml.j2",
    "policy/tiers.yaml": "tiers.yaml.j2",
    "policy/routes.yaml": "routes.yaml.j2",
    "policy/tests.yaml": "tests.yaml.j2",
    ".routectl.yaml": "routectl.yaml.j2",
    ".github/workflows/routectl.yml": "workflow.yml.j2",
    ".pre-commit-config.yaml": "pre-commit-config.yaml.j2",
    ".gitignore": "gitignore.j2",
    "README.md": "README.md.j2",
}
GENERATED = ("traffic/sample.csv", "routectl.schema.json")


class InitError(Exception):
    pass


def sample_traffic(rows: int = 600, seed: int = 7) -> str:
    """An hour of made-up requests: chat and code, internal, public and personal data."""
    rng = random.Random(seed)
    start = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "intent", "classification", "input_tokens", "output_tokens"])
    for i in range(rows):
        at = start + timedelta(seconds=i * 3600 / rows)
        intent = rng.choices(["chat", "code"], weights=[3, 1])[0]
        classification = rng.choices(["internal", "public", "personal"], weights=[5, 3, 2])[0]
        tokens_in = int(rng.lognormvariate(6.5 if intent == "chat" else 7.5, 0.8))
        tokens_out = int(rng.lognormvariate(5.0, 0.6))
        writer.writerow(
            [at.isoformat().replace("+00:00", "Z"), intent, classification, tokens_in, tokens_out]
        )
    return out.getvalue()


def scaffold(action: str = DEFAULT_ACTION, action_ref: str = "") -> dict[str, str]:
    """Path -> content of every file of the starter repository."""
    import jinja2

    from routectl.core.manifest import json_schema

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("routectl.init", "scaffold"),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    values = {"action_repo": action, "action_ref": action_ref or f"v{__version__}"}
    files = {dest: env.get_template(src).render(**values) for dest, src in FILES.items()}
    files["traffic/sample.csv"] = sample_traffic()
    files["routectl.schema.json"] = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    return files


def write_scaffold(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write every file, or none: refuses when any of them exists already."""
    existing = [name for name in files if (directory / name).exists()]
    if existing:
        raise InitError(
            f"{directory} already has {', '.join(existing)}; routectl init overwrites nothing "
            "(choose an empty directory)"
        )
    written: list[Path] = []
    try:
        for name, content in files.items():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            written.append(target)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise InitError(f"cannot write in {directory}: {exc.strerror}") from None
    return written
