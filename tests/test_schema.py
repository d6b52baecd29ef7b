"""The JSON Schema editors use and the pydantic models routectl uses say the same thing.

A corpus of documents (tests/data/schema-corpus) is checked with both: every
``valid/`` document passes both, every ``invalid/`` document fails both. The
few rules JSON Schema cannot express sit in ``pydantic-only/`` and are pinned
here as exactly that, so a new gap cannot slip in unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError
from ruamel.yaml import YAML
from typer.testing import CliRunner

from routectl.cli.main import app
from routectl.core.manifest import json_schema, parse_document

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "schema-corpus"
COMMITTED = ROOT / "schemas" / "routectl.schema.json"
EXAMPLES = ROOT / "examples" / "policies"

# The format checker makes "format: regex" a real check (Python's re, as routectl uses).
VALIDATOR = Draft202012Validator(json_schema(), format_checker=FormatChecker())


def documents(directory: Path) -> list[tuple[str, Any]]:
    yaml = YAML(typ="safe", pure=True)
    out = []
    for path in sorted(directory.glob("*.yaml")):
        for index, doc in enumerate(yaml.load_all(path.read_text(encoding="utf-8"))):
            out.append((f"{path.relative_to(ROOT)}#{index}", doc))
    return out


def pydantic_accepts(doc: Any) -> bool:
    try:
        parse_document(doc)
    except ValidationError:
        return False
    return True


def schema_errors(doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)
    ]


VALID = documents(CORPUS / "valid")
INVALID = documents(CORPUS / "invalid")
PYDANTIC_ONLY = documents(CORPUS / "pydantic-only")
EXAMPLE_DOCS = [
    d for name in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()) for d in documents(name)
]


def test_committed_schema_is_what_routectl_schema_prints():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    committed = COMMITTED.read_text(encoding="utf-8")
    assert json.loads(result.stdout) == json.loads(committed), (
        "schemas/routectl.schema.json is stale; regenerate it with "
        "`routectl schema > schemas/routectl.schema.json`"
    )
    assert result.stdout.strip() == committed.strip()


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(json_schema())


def test_the_corpus_is_not_trivially_small():
    assert len(VALID) >= 15 and len(INVALID) >= 40
    kinds = {doc["kind"] for _, doc in VALID}
    assert kinds >= {
        "Provider",
        "Model",
        "Classification",
        "Intent",
        "Tier",
        "Route",
        "Experiment",
        "Consumer",
        "PolicyTest",
    }


@pytest.mark.parametrize(("where", "doc"), VALID, ids=[w for w, _ in VALID])
def test_valid_documents_pass_both(where, doc):
    assert pydantic_accepts(doc), where
    assert schema_errors(doc) == [], where


@pytest.mark.parametrize(("where", "doc"), INVALID, ids=[w for w, _ in INVALID])
def test_invalid_documents_fail_both(where, doc):
    assert not pydantic_accepts(doc), f"{where}: routectl accepts it"
    assert schema_errors(doc), f"{where}: the JSON Schema accepts it"


@pytest.mark.parametrize(("where", "doc"), PYDANTIC_ONLY, ids=[w for w, _ in PYDANTIC_ONLY])
def test_rules_json_schema_cannot_express_are_known(where, doc):
    assert not pydantic_accepts(doc), where
    assert schema_errors(doc) == [], f"{where}: the schema now catches it; move it to invalid/"


@pytest.mark.parametrize(("where", "doc"), EXAMPLE_DOCS, ids=[w for w, _ in EXAMPLE_DOCS])
def test_every_example_document_passes_the_editor_schema(where, doc):
    assert schema_errors(doc) == [], where
