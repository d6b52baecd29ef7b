"""``routectl fmt``: the canonical layout of manifests, keeping every comment.

A ruamel.yaml round trip: comments (end-of-line ones at their column), flow
or block style and document separators stay as written; what changes is

- key order: the order of the manifest model's fields (``apiVersion``, ``kind``,
  ``metadata``, ``spec``, then each spec's fields as the schema lists them);
  keys the model does not know keep their place after the known ones (lint
  reports them);
- indentation: two spaces per mapping level, sequence dashes indented by two;
- quoting: plain where plain is unambiguous, double quotes where a YAML 1.1
  or 1.2 reader would take the text for something else (``"429"``, ``"on"``,
  ``"1.0"``) or where flow style would need them (commas, brackets); single
  quotes for text with backslashes (regular expressions read as written);
  block scalars (``|``, ``>``) stay as written;
- long lines stay long: fmt never folds what the author wrote on one line;
- deprecated keys get their new names (``fallback.on`` -> ``fallback.triggers``).

Files that are not routectl manifests are left alone.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from routectl.core import manifest

# Read as booleans or null by YAML 1.1 readers (PyYAML, many editors), plain strings by 1.2.
YAML11_SPECIAL = {
    "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~",
}  # fmt: skip

FLOW_INDICATORS = ",[]{}"

DOCUMENT_ORDER = ("apiVersion", "kind", "metadata", "spec")


class FormatError(Exception):
    """A file that cannot be formatted; the message is located (file:line:col)."""


@dataclass(frozen=True)
class Formatted:
    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"{self.path} (now)",
                f"{self.path} (formatted)",
            )
        )


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1 << 16  # never fold a line the author wrote on one
    yaml.preserve_quotes = False
    return yaml


# --------------------------------------------------------------------------- key order


# Deprecated keys fmt renames: model -> {old: new}.
RENAMED: dict[type[BaseModel], dict[str, str]] = {manifest.Fallback: {"on": "triggers"}}


def _rename(node: Any, old: str, new: str) -> None:
    """Rename a key in place, keeping its position and its comment."""
    position = list(node).index(old)
    comment = node.ca.items.pop(old, None)
    value = node.pop(old)
    node.insert(position, new, value)
    if comment is not None:
        node.ca.items[new] = comment


def _reorder(node: Any, order: list[str]) -> None:
    known = [k for k in order if k in node]
    unknown = [k for k in node if k not in order]
    for key in known + unknown:
        node.move_to_end(key)


def _walk(node: Any, annotation: Any) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    kind, inner = manifest.unwrap(annotation)
    if kind == "model" and isinstance(node, CommentedMap):
        for old, new in RENAMED.get(inner, {}).items():
            if old in node and new not in node:
                _rename(node, old, new)
        fields = manifest.yaml_fields(inner)
        _reorder(node, list(fields))
        for key in node:
            if key in fields:
                _walk(node[key], fields[key])
    elif kind == "list" and isinstance(node, CommentedSeq):
        for item in node:
            _walk(item, inner)
    elif kind == "dict" and isinstance(node, CommentedMap):
        for key in node:
            _walk(node[key], inner)


# --------------------------------------------------------------------------- quoting


@cache
def _plain_is_string(text: str, flow: bool) -> bool:
    """Would ``text`` written plain read back as this same string, in YAML 1.1 and 1.2?

    ``flow``: inside ``[...]`` or ``{...}``, where commas and brackets end a plain scalar.
    """
    if text.lower() in YAML11_SPECIAL or text == "" or text != text.strip():
        return False
    if flow and any(c in text for c in FLOW_INDICATORS):
        return False
    import yaml as pyyaml  # YAML 1.1 resolver

    yaml = _yaml()
    try:
        stream = io.StringIO()
        yaml.dump({"k": text}, stream)
        dumped = stream.getvalue()[3:].rstrip("\n")
    except Exception:  # noqa: BLE001 - anything unusual gets quotes
        return False
    if dumped[:1] in ("'", '"') or "\n" in dumped:
        return False
    try:
        return pyyaml.safe_load(f"k: {dumped}") == {"k": text}
    except pyyaml.YAMLError:
        return False


def _requote(node: Any) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        FoldedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    flow = bool(getattr(node, "fa", None) and node.fa.flow_style())

    def fix(value: Any) -> Any:
        if isinstance(value, LiteralScalarString | FoldedScalarString):
            return value
        if isinstance(value, str):
            text = str(value)
            if _plain_is_string(text, flow):
                return text
            if "\\" in text and "'" not in text:
                return SingleQuotedScalarString(text)  # a regex reads better unescaped
            return DoubleQuotedScalarString(text)
        _requote(value)
        return value

    if isinstance(node, CommentedMap):
        for key in list(node):
            node[key] = fix(node[key])
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            node[index] = fix(item)


# --------------------------------------------------------------------------- files


def is_manifest(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("apiVersion") == manifest.API_VERSION


def format_text(text: str, where: str) -> str | None:
    """The canonical text, or None when ``text`` holds no routectl manifest."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = _yaml()
    try:
        docs = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise FormatError(f"{where}:{line}:{col}: invalid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise FormatError(f"{where}: invalid YAML: {exc}") from None
    present = [d for d in docs if d is not None]
    if not present or not all(is_manifest(d) for d in present):
        return None
    for doc in present:
        _reorder(doc, list(DOCUMENT_ORDER))
        model = manifest.document_model(doc.get("kind"))
        if model is not None:
            for key in doc:
                if key in manifest.yaml_fields(model):
                    _walk(doc[key], manifest.yaml_fields(model)[key])
        _requote(doc)
    stream = io.StringIO()
    yaml.dump_all(docs, stream)
    return stream.getvalue()


def manifest_files(paths: list[str]) -> list[Path]:
    """The files fmt looks at: what every other command loads (.routectlignore applies)."""
    from routectl.loader.yaml_source import discover

    files, errors = discover(paths)
    if errors:
        raise FormatError(f"{errors[0].location.file}: {errors[0].message}")
    return list(dict.fromkeys(files))


def format_file(path: Path) -> Formatted | None:
    try:
        before = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path}:1:1: not UTF-8 text") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror}") from None
    after = format_text(before, str(path))
    return None if after is None else Formatted(path, before, after)


def write(result: Formatted) -> None:
    """Replace the file atomically: an interrupted fmt leaves the old text, never half."""
    tmp = result.path.with_name(f".{result.path.name}.routectl-fmt")
    try:
        tmp.write_text(result.after, encoding="utf-8")
        tmp.replace(result.path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FormatError(f"{result.path}: cannot write: {exc.strerror}") from None
