"""Read manifest files into typed documents that remember where they came from.

Every failure becomes a :class:`LoadError` with ``file:line:col``, what was
expected and how to fix it; nothing here lets a traceback reach the user.
Files arrive as ``(name, bytes)`` so the same code reads the working tree and
git blobs (see :mod:`routectl.loader.git_source`).

Parsing uses libyaml (PyYAML's C parser) to compose nodes, which carry their
positions, and builds plain dicts and lists that remember where each key and
item stood (:class:`YamlMap`, :class:`YamlSeq`). A pure-Python round-trip
parser took ~5 ms a document, half a minute for a 5,000-route policy; this
takes a fraction of that. Scalars resolve as in YAML 1.2 (``NO`` — Norway —
stays a string, ``010`` is ten), not YAML 1.1.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from routectl.core.manifest import (
    API_VERSION,
    DEPRECATED_KEYS,
    KINDS,
    fields_at,
    parse_document,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000
# Manifests nest a handful of levels; a limit far below Python's recursion
# limit turns "[[[[…" into a located error instead of a RecursionError.
MAX_NESTING_DEPTH = 64
# The parser composes nested flow collections recursively; refusing a run of
# opening brackets up front ("[[[[…") keeps that recursion shallow and finds the
# common attack in microseconds.
_BRACKET_RUN = re.compile(r"(?:[\[{]\s*)" + f"{{{MAX_NESTING_DEPTH + 1}}}")
MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class LoadError:
    location: Location
    message: str
    hint: str | None = None
    code: str = "RC000"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass(frozen=True)
class SourceDocument:
    """One validated document and the YAML it came from."""

    file: str
    index: int  # position of the document in its file, 0-based
    doc: Any  # one of routectl.core.manifest's document models
    raw: YamlMap = field(repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.doc.kind

    @property
    def name(self) -> str:
        return self.doc.metadata.name

    def locate(self, *path: str | int) -> Location:
        """The position of ``path`` (YAML keys, list indexes) or its nearest parent."""
        line, col = position(self.raw, path)
        return Location(self.file, line, col)


@dataclass
class LoadResult:
    documents: list[SourceDocument] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Parsed documents that failed validation, as (file, YAML): not part of the
    # policy, but lint still scans them (a secret in a broken document is in Git).
    unvalidated: list[tuple[str, Any]] = field(default_factory=list)
    # (kind, name) read by pattern from files that are not valid YAML: not part of the
    # policy either, but references to them are not "unknown" (one mistake, one error).
    unparsed: set[tuple[str, str]] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors


class YamlMap(dict):
    """A mapping that remembers its own position and each key's (1-based line, col)."""

    __slots__ = ("pos", "key_pos")

    def __init__(self, pos: tuple[int, int]) -> None:
        super().__init__()
        self.pos = pos
        self.key_pos: dict[Any, tuple[int, int]] = {}


class YamlSeq(list):
    """A sequence that remembers its own position and each item's (1-based line, col)."""

    __slots__ = ("pos", "item_pos")

    def __init__(self, pos: tuple[int, int]) -> None:
        super().__init__()
        self.pos = pos
        self.item_pos: list[tuple[int, int]] = []


def position(node: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """1-based line/col of the deepest element of ``path`` present in ``node``."""
    line, col = _own_position(node)
    current = node
    for part in path:
        if isinstance(current, YamlMap) and part in current:
            line, col = current.key_pos[part]
            current = current[part]
        elif isinstance(current, YamlSeq) and isinstance(part, int) and 0 <= part < len(current):
            line, col = current.item_pos[part]
            current = current[part]
        else:
            break
    return line, col


def _own_position(node: Any) -> tuple[int, int]:
    return getattr(node, "pos", (1, 1))


# A policy directory may hold YAML that is not a manifest (a docker-compose.yaml, CI
# config): patterns in this file, one per line, leave such files out of every command.
IGNORE_FILE = ".routectlignore"


def ignore_patterns(text: str) -> list[str]:
    """The patterns of a .routectlignore file: one per line, # comments, blank lines skipped."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative: str, patterns: Sequence[str]) -> bool:
    """Does a path (relative to the policy directory, with /) match a .routectlignore pattern?

    A pattern with no slash matches a file or directory name at any depth; one with a
    slash matches from the policy directory; ``*`` and ``?`` are shell wildcards.
    """
    parts = relative.split("/")
    for pattern in patterns:
        anchored = pattern.strip("/")
        if "/" in pattern.rstrip("/"):
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatchcase(p, anchored) for p in prefixes):
                return True
        elif any(fnmatch.fnmatchcase(part, anchored) for part in parts):
            return True
    return False


def _ignore_file(directory: Path) -> list[str]:
    try:
        return ignore_patterns((directory / IGNORE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[LoadError]]:
    """Expand directories into their manifest files, sorted for a stable order."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            patterns = _ignore_file(path)
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in MANIFEST_SUFFIXES
                    and p.is_file()
                    and not _hidden(p, path)
                    and not ignored(p.relative_to(path).as_posix(), patterns)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            errors.append(
                LoadError(
                    Location(str(path), 1, 1),
                    "no such file or directory",
                    "pass a policy directory or manifest files",
                    code="RC001",
                )
            )
    return files, errors


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def load_paths(paths: Iterable[str | os.PathLike[str]]) -> LoadResult:
    files, errors = discover(paths)
    result = LoadResult(errors=list(errors))
    for path in files:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                result.files.append(str(path))
                result.errors.append(_too_large(str(path), size))
                continue
            data = path.read_bytes()
        except OSError as exc:
            result.errors.append(
                LoadError(Location(str(path), 1, 1), f"cannot read: {exc.strerror}", code="RC001")
            )
            continue
        _merge(result, load_bytes(str(path), data))
    return result


def load_blobs(blobs: Iterable[tuple[str, bytes]]) -> LoadResult:
    """Load ``(name, content)`` pairs, e.g. files read from a git tree."""
    result = LoadResult()
    for name, data in blobs:
        _merge(result, load_bytes(name, data))
    return result


def _merge(into: LoadResult, part: LoadResult) -> None:
    into.documents.extend(part.documents)
    into.errors.extend(part.errors)
    into.files.extend(part.files)
    into.unvalidated.extend(part.unvalidated)
    into.unparsed |= part.unparsed


def _too_large(name: str, size: int) -> LoadError:
    return LoadError(
        Location(name, 1, 1),
        f"file is {size / 1024 / 1024:.1f} MiB; manifests are limited to "
        f"{MAX_FILE_BYTES // 1024 // 1024} MiB",
        "split the policy into several files",
        code="RC002",
    )


def load_bytes(name: str, data: bytes) -> LoadResult:
    result = LoadResult(files=[name])
    if len(data) > MAX_FILE_BYTES:
        result.errors.append(_too_large(name, len(data)))
        return result
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        result.errors.append(
            LoadError(
                Location(name, line, col),
                f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
                "save the file as UTF-8",
                code="RC003",
            )
        )
        return result
    for index, raw in _documents(name, text, result.errors):
        source = _validate(name, index, raw, result.errors)
        if source is not None:
            result.documents.append(source)
        else:
            result.unvalidated.append((name, raw))
    if any(e.code == "RC005" for e in result.errors):
        result.unparsed = salvage_names(text)
    return result


_KIND_LINE = re.compile(r"^kind:\s*[\"']?([A-Za-z]+)", re.M)
_NAME_LINE = re.compile(r"^metadata:.*?\bname:\s*[\"']?([a-z0-9][a-z0-9._-]*)", re.M | re.S)


def salvage_names(text: str) -> set[tuple[str, str]]:
    """(kind, name) of each document of a file that does not parse, read line by line."""
    out: set[tuple[str, str]] = set()
    for chunk in re.split(r"^---.*$", text, flags=re.M):
        kind, name = _KIND_LINE.search(chunk), _NAME_LINE.search(chunk.replace("\t", "  "))
        if kind and name:
            out.add((kind.group(1), name.group(1)))
    return out


_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_CLoader):  # type: ignore[misc,valid-type]
    """libyaml's parser with YAML 1.2 core-schema scalars."""


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in (_NULL, _MERGE)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class _BuildError(Exception):
    def __init__(self, node: Node, message: str, hint: str, code: str = "RC005") -> None:
        super().__init__(message)
        self.node = node
        self.hint = hint
        self.code = code


def _pos(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _scalar(node: ScalarNode) -> Any:
    value = node.value
    tag = node.tag
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _INT:
        return int(value, 16) if value.startswith("0x") else int(value, 10)
    if tag == _FLOAT:
        lowered = value.lower()
        if lowered.endswith(".inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(value)
    if tag.startswith("tag:yaml.org,2002:"):
        return value  # timestamps and friends stay text; the model decides
    raise _BuildError(node, f"unsupported YAML tag {tag}", "remove the explicit tag")


def _build(node: Node, depth: int = 0) -> Any:
    if depth > MAX_NESTING_DEPTH:
        raise _BuildError(
            node,
            f"nested more than {MAX_NESTING_DEPTH} levels deep",
            "manifests nest a few levels; flatten the structure",
            "RC004",
        )
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        seq = YamlSeq(_pos(node))
        for item in node.value:
            seq.append(_build(item, depth + 1))
            seq.item_pos.append(_pos(item))
        return seq
    if isinstance(node, MappingNode):
        mapping = YamlMap(_pos(node))
        merged: list[YamlMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                merged.extend(
                    m for m in (_build(v, depth + 1) for v in sources) if isinstance(m, YamlMap)
                )
                continue
            key = _build(key_node, depth + 1)
            if isinstance(key, list | dict):
                raise _BuildError(key_node, "a mapping key must be a plain value", "quote the key")
            if key in mapping.key_pos:
                line, col = mapping.key_pos[key]
                raise _BuildError(
                    key_node,
                    f'duplicate key "{key}" (first at line {line}, column {col})',
                    "remove one of the duplicated keys",
                )
            mapping[key] = _build(value_node, depth + 1)
            mapping.key_pos[key] = _pos(key_node)
        for source in merged:  # explicit keys win over merged ones
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    mapping.key_pos[key] = source.key_pos[key]
        return mapping
    raise _BuildError(node, "unsupported YAML node", "use plain mappings, lists and scalars")


def parse_yaml(name: str, text: str) -> tuple[list[Any], list[LoadError]]:
    """Every document of a YAML text, built with positions, or the located errors.

    For YAML files that are not manifests (the lint config, traffic specs):
    same parser, same limits, same ``position()`` lookups.
    """
    errors: list[LoadError] = []
    documents = [data for _, data in _documents(name, text, errors)]
    return documents, errors


def _documents(name: str, text: str, errors: list[LoadError]) -> Iterator[tuple[int, Any]]:
    run = _BRACKET_RUN.search(text)
    if run is not None:
        line = text.count("\n", 0, run.start()) + 1
        col = run.start() - (text.rfind("\n", 0, run.start()) + 1) + 1
        errors.append(_too_deep(Location(name, line, col)))
        return
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        error = _yaml_error(name, exc)
        mark = exc.problem_mark
        if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
            error = LoadError(
                error.location,
                error.message + " (a '\\t' tab)",
                "indent with spaces: YAML does not allow tabs for indentation",
                error.code,
            )
        errors.append(error)
        return
    except (yaml.YAMLError, RecursionError) as exc:
        errors.append(_yaml_error(name, exc))
        return
    for index, node in enumerate(nodes):
        if node is None or _empty_document(node):
            continue  # a comment-only file, or nothing between two '---'
        expanded = _expanded_size(node, {})
        if expanded > MAX_EXPANDED_NODES:
            errors.append(
                LoadError(
                    Location(name, *_pos(node)),
                    f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases",
                    "remove the nested anchors/aliases (a YAML alias bomb?)",
                    code="RC004",
                )
            )
            continue
        try:
            data = _build(node)
        except _BuildError as exc:
            errors.append(
                LoadError(
                    Location(name, *_pos(exc.node)),
                    f"invalid YAML: {exc}" if exc.code == "RC005" else str(exc),
                    exc.hint,
                    exc.code,
                )
            )
            continue
        except RecursionError:
            errors.append(_too_deep(Location(name, *_pos(node))))
            continue
        yield index, data


def _too_deep(where: Location) -> LoadError:
    return LoadError(
        where,
        f"nested more than {MAX_NESTING_DEPTH} levels deep",
        "manifests nest a few levels; flatten the structure",
        code="RC004",
    )


def _empty_document(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag.endswith(":null") and node.value == ""


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Node count with aliases expanded, computed without expanding them."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards recursive aliases
    total = 1
    if isinstance(node, MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo) + _expanded_size(v, memo)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo)
    memo[key] = total
    return total


def _yaml_error(name: str, exc: Exception, hint: str | None = None) -> LoadError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {context + ', ' if context else ''}{problem}"
    started = getattr(exc, "context_mark", None)
    if started is not None and mark is not None and started.line != mark.line:
        # e.g. an unclosed '{': the error surfaces at the end, the cause is where it opened
        message += f" (it started at line {started.line + 1}, column {started.column + 1})"
    return LoadError(Location(name, line, col), message, hint or "fix the YAML syntax", "RC005")


def _validate(name: str, index: int, raw: Any, errors: list[LoadError]) -> SourceDocument | None:
    if not isinstance(raw, YamlMap):
        line, col = _own_position(raw)
        errors.append(
            LoadError(
                Location(name, line, col),
                "expected a mapping with apiVersion, kind, metadata and spec, "
                f"got {_yaml_type(raw)}",
                code="RC006",
            )
        )
        return None
    kind = raw.get("kind")
    if raw.get("apiVersion") != API_VERSION:
        line, col = position(raw, ["apiVersion"])
        errors.append(
            LoadError(
                Location(name, line, col),
                f"apiVersion must be {API_VERSION!r}, got {_written(raw, 'apiVersion')}",
                f"set 'apiVersion: {API_VERSION}'",
                code="RC006",
            )
        )
        return None
    if kind not in KINDS:
        line, col = position(raw, ["kind"])
        errors.append(
            LoadError(
                Location(name, line, col),
                f"unknown kind {kind!r}"
                if isinstance(kind, str)
                else f"kind is {_yaml_type(kind)}",
                " ".join(
                    filter(None, [_did_you_mean(kind, KINDS), f"use one of: {', '.join(KINDS)}"])
                ),
                code="RC006",
            )
        )
        return None
    try:
        doc = parse_document(_plain(raw))
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(_validation_error(name, raw, err))
        return None
    return SourceDocument(name, index, doc, raw)


def _written(raw: YamlMap, key: str) -> str:
    """What the document has at ``key``, as its author would say it (never a Python repr)."""
    if key not in raw:
        return "nothing"
    value = raw[key]
    return f"'{value}'" if isinstance(value, str) else _yaml_type(value)


def _yaml_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"the string {str(value)[:40]!r}"


def _plain(value: Any) -> Any:
    """Positioned containers into plain ones, keys as strings, for pydantic."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _secret_field(loc: list[Any]) -> bool:
    # Never echo what was written where a secret reference belongs: it may be the secret.
    return "credentials" in loc or "apiKey" in loc


def _did_you_mean(word: Any, choices: Sequence[str]) -> str | None:
    """'did you mean X?' for a misspelt field or kind, or None when nothing is close."""
    if not isinstance(word, str):
        return None
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean {lowered[close[0]]!r}?" if close else None


def _as_written(raw: YamlMap, loc: list[Any]) -> list[Any]:
    """``loc`` with each key as the YAML has it: a deprecated name where the file uses one."""
    out: list[Any] = []
    current: Any = raw
    for part in loc:
        if isinstance(current, YamlMap) and part not in current:
            old = DEPRECATED_KEYS.get(part) if isinstance(part, str) else None
            if old is not None and old in current:
                part = old
        out.append(part)
        current = (
            current.get(part)
            if isinstance(current, dict)
            else (
                current[part]
                if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
                else None
            )
        )
    return out


def _validation_error(name: str, raw: YamlMap, err: dict[str, Any]) -> LoadError:
    loc = list(err["loc"])
    if loc and loc[0] == raw.get("kind"):
        loc = loc[1:]  # the discriminator tag pydantic puts first
    loc = _as_written(raw, loc)
    line, col = position(raw, loc)
    field_path = ".".join(str(p) for p in loc) or "document"
    kind = err["type"]
    message = err["msg"]
    hint = None
    if kind == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
        allowed = fields_at(raw.get("kind"), [p for p in loc[:-1]]) or []
        hint = _did_you_mean(loc[-1], allowed) or (
            f"remove it; allowed here: {', '.join(allowed)} (routectl schema describes them)"
            if allowed
            else f"remove it, or check its spelling against 'routectl schema' ({raw.get('kind')})"
        )
    elif kind == "missing":
        message = f"missing required field {loc[-1]!r}"
        hint = "add it"
    elif kind == "string_pattern_mismatch" and loc and loc[-1] in ("apiKey",):
        hint = "reference the secret as env:NAME or file:PATH; never inline its value"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "enum" and isinstance(err.get("input"), int) and f"'{err['input']}'" in message:
        hint = f'quote it: "{err["input"]}" (YAML reads an unquoted {err["input"]} as a number)'
    elif (
        kind.endswith(("_type", "_parsing"))
        and isinstance(err.get("input"), str | int | float)
        and not _secret_field(loc)
    ):
        message = f"{message} (got {err['input']!r})"
    return LoadError(Location(name, line, col), f"{field_path}: {message}", hint, "RC007")
