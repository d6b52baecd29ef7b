"""Read manifest files into typed documents that remember where they came from.

Every failure becomes a :class:`LoadError` with ``file:line:col``, what was
expected and how to fix it; nothing here lets a traceback reach the user.
Files arrive as ``(name, bytes)`` so the same code reads the working tree and
git blobs (see :mod:`routectl.loader.git_source`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from routectl.core.manifest import API_VERSION, KINDS, parse_document

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000
# Manifests nest a handful of levels; a limit far below Python's recursion
# limit turns "[[[[…" into a located error instead of a RecursionError.
MAX_NESTING_DEPTH = 64
# ruamel's scanner looks ~1k characters ahead with a cost quadratic in the open
# brackets, so a run of them takes seconds before the depth limit fires; this
# finds the common case ("[[[[…") in microseconds.
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
    raw: CommentedMap = field(repr=False, compare=False)

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

    @property
    def ok(self) -> bool:
        return not self.errors


def position(node: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """1-based line/col of the deepest element of ``path`` present in ``node``."""
    line, col = _own_position(node)
    current = node
    for part in path:
        if isinstance(current, CommentedMap) and part in current:
            key_line, key_col = current.lc.key(part)
            line, col = key_line + 1, key_col + 1
            current = current[part]
        elif isinstance(current, CommentedSeq) and isinstance(part, int) and part < len(current):
            item_line, item_col = current.lc.item(part)
            line, col = item_line + 1, item_col + 1
            current = current[part]
        else:
            break
    return line, col


def _own_position(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line + 1, lc.col + 1
    return 1, 1


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[LoadError]]:
    """Expand directories into their manifest files, sorted for a stable order."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in MANIFEST_SUFFIXES and p.is_file() and not _hidden(p, path)
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
    return result


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_NESTING_DEPTH
    return yaml


def _documents(name: str, text: str, errors: list[LoadError]) -> Iterator[tuple[int, Any]]:
    yaml = _yaml()
    run = _BRACKET_RUN.search(text)
    if run is not None:
        line = text.count("\n", 0, run.start()) + 1
        col = run.start() - (text.rfind("\n", 0, run.start()) + 1) + 1
        errors.append(_too_deep(Location(name, line, col)))
        return
    try:
        nodes = list(yaml.compose_all(text))
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name, 1, 1)
        errors.append(_too_deep(where))
        return
    except (MarkedYAMLError, YAMLError) as exc:
        errors.append(_yaml_error(name, exc))
        return
    for index, node in enumerate(nodes):
        if node is None or _empty_document(node):
            continue  # a comment-only file, or nothing between two '---'
        expanded = _expanded_size(node, {})
        if expanded > MAX_EXPANDED_NODES:
            mark = node.start_mark
            errors.append(
                LoadError(
                    Location(name, mark.line + 1, mark.column + 1),
                    f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases",
                    "remove the nested anchors/aliases (a YAML alias bomb?)",
                    code="RC004",
                )
            )
            continue
        try:
            data = yaml.constructor.construct_document(node)
        except DuplicateKeyError as exc:
            errors.append(_yaml_error(name, exc, hint="remove one of the duplicated keys"))
            continue
        except (MarkedYAMLError, YAMLError) as exc:
            errors.append(_yaml_error(name, exc))
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
    if not isinstance(raw, CommentedMap):
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
                f"apiVersion must be {API_VERSION!r}, got {raw.get('apiVersion')!r}",
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
                f"unknown kind {kind!r}",
                f"use one of: {', '.join(KINDS)}",
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
    """ruamel's round-trip types into plain Python, so pydantic sees dicts and lists."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    return str(value)


def _secret_field(loc: list[Any]) -> bool:
    # Never echo what was written where a secret reference belongs: it may be the secret.
    return "credentials" in loc or "apiKey" in loc


def _validation_error(name: str, raw: CommentedMap, err: dict[str, Any]) -> LoadError:
    loc = list(err["loc"])
    if loc and loc[0] == raw.get("kind"):
        loc = loc[1:]  # the discriminator tag pydantic puts first
    line, col = position(raw, loc)
    field_path = ".".join(str(p) for p in loc) or "document"
    kind = err["type"]
    message = err["msg"]
    hint = None
    if kind == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
        hint = f"remove it, or check its spelling against 'routectl schema' ({raw.get('kind')})"
    elif kind == "missing":
        message = f"missing required field {loc[-1]!r}"
        hint = "add it"
    elif kind == "string_pattern_mismatch" and loc and loc[-1] in ("apiKey",):
        hint = "reference the secret as env:NAME or file:PATH; never inline its value"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif (
        kind.endswith(("_type", "_parsing"))
        and isinstance(err.get("input"), str | int | float)
        and not _secret_field(loc)
    ):
        message = f"{message} (got {err['input']!r})"
    return LoadError(Location(name, line, col), f"{field_path}: {message}", hint, "RC007")
