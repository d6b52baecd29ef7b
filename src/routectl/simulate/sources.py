"""Which traffic files to replay, and how their columns map to request features.

A trace names its columns its own way. Features are found by name (case
insensitive, see :data:`ALIASES`), so the Azure traces (``TIMESTAMP``,
``ContextTokens``, ``GeneratedTokens``) and the gateway's decision log (``ts``,
``input_tokens``, ``intent`` …) replay with no mapping at all. ``--map
FEATURE=COLUMN`` overrides the guess, ``--set FEATURE=VALUE`` gives a constant
for a feature the trace lacks, and a traffic spec (YAML) does both per file::

    files:
      - path: AzureLLMInferenceTrace_code.csv   # relative to the spec
        set: {intent: code}
      - path: decisions.jsonl.gz
        map: {consumer: caller}
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FEATURES: tuple[str, ...] = (
    "timestamp",
    "input_tokens",
    "output_tokens",
    "intent",
    "classification",
    "language",
    "consumer",
    "request_id",
    "session",
    "metadata",
    "requires",
    "requested_model",
    "prompt",
)
TEXT_FEATURES: tuple[str, ...] = (
    "intent",
    "classification",
    "language",
    "consumer",
    "request_id",
    "session",
    "metadata",
    "requires",
    "requested_model",
    "prompt",
)
# Column names recognised for each feature, lower case, most specific first.
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "ts", "time", "created_at", "arrival_time"),
    "input_tokens": (
        "input_tokens",
        "contexttokens",
        "context_tokens",
        "prompt_tokens",
        "tokens_in",
    ),
    "output_tokens": (
        "output_tokens",
        "generatedtokens",
        "generated_tokens",
        "completion_tokens",
        "tokens_out",
    ),
    "intent": ("intent",),
    "classification": ("classification", "data_classification"),
    "language": ("language", "lang"),
    "consumer": ("consumer", "caller"),
    "request_id": ("request_id", "requestid"),
    "session": ("session", "session_id"),
    "metadata": ("metadata",),
    # capabilities the request needs (a list, or "vision,tools"); the model a client pinned
    "requires": ("requires", "required_capabilities"),
    "requested_model": ("requested_model", "pinned_model"),
    "prompt": ("prompt", "prompt_text"),
}
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SPEC_SUFFIXES = (".yaml", ".yml")


class TrafficError(Exception):
    """Bad traffic input: the message says where and how to fix it."""


@dataclass(frozen=True)
class TrafficFile:
    path: Path
    format: str  # csv | jsonl | parquet
    gzip: bool
    mapping: dict[str, str] = field(default_factory=dict)  # feature -> column (explicit)
    constants: dict[str, str] = field(default_factory=dict)  # feature -> value
    location: str | None = None  # a glob or URI the engine reads itself (Spark)

    @property
    def display(self) -> str:
        return self.location or str(self.path)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


def file_format(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise TrafficError(
            f"{path}: unknown traffic format; expected .csv, .jsonl, .ndjson or .parquet "
            "(optionally .gz), or a traffic spec .yaml"
        )
    if kind == "parquet" and compressed:
        raise TrafficError(f"{path}: parquet is compressed internally; drop the .gz")
    return kind, compressed


def parse_pairs(pairs: list[str], option: str) -> dict[str, str]:
    """``FEATURE=VALUE`` options into a dict, checking the feature names."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TrafficError(f"{option} {pair!r}: expected FEATURE=VALUE, e.g. intent=code")
        check_feature(key, option)
        out[key] = value
    return out


def check_feature(name: str, where: str) -> None:
    if name not in FEATURES:
        raise TrafficError(
            f"{where}: unknown feature {name!r}; expected one of {', '.join(FEATURES)}"
        )


class _SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1)
    map: dict[str, str] = Field(default_factory=dict)
    set: dict[str, str | int] = Field(default_factory=dict)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[_SpecFile] = Field(min_length=1)


def traffic_files(
    paths: list[str], mapping: dict[str, str], constants: dict[str, str], remote: bool = False
) -> list[TrafficFile]:
    """Expand ``--traffic`` arguments (data files or specs) into files to read.

    Command-line ``--map``/``--set`` apply to every file; a spec's own entries win.
    ``remote``: the engine also reads globs and URIs (``s3a://…/*.parquet``) itself.
    """
    files: list[TrafficFile] = []
    for raw in paths:
        path = Path(raw)
        if remote and ("://" in raw or glob.has_magic(raw)):
            kind, gz = file_format(path)
            files.append(TrafficFile(path, kind, gz, dict(mapping), dict(constants), raw))
            continue
        if not path.is_file():
            raise TrafficError(f"{raw}: no such traffic file")
        if path.suffix.lower() in SPEC_SUFFIXES:
            files.extend(_from_spec(path, mapping, constants))
        else:
            kind, gz = file_format(path)
            files.append(TrafficFile(path, kind, gz, dict(mapping), dict(constants)))
    return files


def _from_spec(
    spec_path: Path, mapping: dict[str, str], constants: dict[str, str]
) -> list[TrafficFile]:
    from routectl.loader.yaml_source import parse_yaml, position

    try:
        documents, errors = parse_yaml(str(spec_path), spec_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TrafficError(f"{spec_path}: not a readable YAML traffic spec: {exc}") from None
    if errors:
        raise TrafficError(f"{errors[0]} (not a readable YAML traffic spec)")
    raw = documents[0] if documents else None
    try:
        spec = _Spec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        line, col = position(raw, list(err["loc"]))
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise TrafficError(
            f"{spec_path}:{line}:{col}: {where}: {err['msg']} "
            "(expected files: [{path, map: {FEATURE: COLUMN}, set: {FEATURE: VALUE}}])"
        ) from None
    files = []
    for index, entry in enumerate(spec.files):
        for key in (*entry.map, *entry.set):
            if key not in FEATURES:
                line, col = position(raw, ["files", index, "map" if key in entry.map else "set"])
                check_feature(key, f"{spec_path}:{line}:{col}")
        path = spec_path.parent / entry.path
        if not path.is_file():
            line, col = position(raw, ["files", index, "path"])
            raise TrafficError(f"{spec_path}:{line}:{col}: {entry.path}: no such traffic file")
        kind, gz = file_format(path)
        files.append(
            TrafficFile(
                path,
                kind,
                gz,
                {**mapping, **entry.map},
                {**constants, **{k: str(v) for k, v in entry.set.items()}},
            )
        )
    return files


def match_columns(file: TrafficFile, columns: list[str]) -> dict[str, str]:
    """feature -> column for one file: explicit --map first, then names we recognise."""
    by_lower = {c.lower(): c for c in columns}
    found: dict[str, str] = {}
    for feature, column in file.mapping.items():
        if column not in columns:
            raise TrafficError(
                f"{file.display}: --map {feature}={column}: no column {column!r}; "
                f"the file has {', '.join(columns)}"
            )
        found[feature] = column
    for feature in FEATURES:
        if feature in found or feature in file.constants:
            continue
        for alias in ALIASES[feature]:
            if alias in by_lower:
                found[feature] = by_lower[alias]
                break
    for feature in ("input_tokens", "output_tokens"):
        if feature not in found and feature not in file.constants:
            raise TrafficError(
                f"{file.display}: missing column for {feature}; the file has "
                f"{', '.join(columns)}. Name it with --map {feature}=COLUMN "
                f"(or --set {feature}=N)"
            )
    return found
