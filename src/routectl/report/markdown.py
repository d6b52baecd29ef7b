"""The jinja2 environment of the markdown templates, and fitting a body into a GitHub comment.

GitHub refuses a comment body over 65,536 characters. :func:`fold_middle`
keeps the start and the end of a long report and replaces the middle with one
line saying what was left out, cutting only between markdown blocks: never
inside a code fence, a table or a ``<details>`` element, so the result still
renders as it was meant to.
"""

from __future__ import annotations

from functools import cache
from typing import Any

GITHUB_COMMENT_LIMIT = 65_536
# Room for the marker, the fold note and GitHub counting some characters twice.
COMMENT_BUDGET = 60_000


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("routectl.report", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(cell=cell, code=code)
    return env


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def cell(text: Any) -> str:
    """Text safe inside a table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(text: Any) -> str:
    """Inline code that survives backticks in the text and sits in a table cell."""
    body = cell(text)
    fence = "``" if "`" in body else "`"
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def blocks(text: str) -> list[str]:
    """``text`` split into markdown blocks at blank lines outside fences and <details>."""
    out: list[str] = []
    current: list[str] = []
    fence: str | None = None
    details = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence) and stripped.strip(fence[0]) == "":
            fence = None
        elif fence is None:
            details += stripped.count("<details") - stripped.count("</details>")
        current.append(line)
        if stripped == "" and fence is None and details <= 0:
            out.append("\n".join(current))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def fold_middle(text: str, limit: int = COMMENT_BUDGET, where: str = "") -> str:
    """``text`` unchanged if it fits in ``limit`` characters, else its start and end.

    The note names how much was left out and ``where`` the whole report is.
    """
    if len(text) <= limit:
        return text
    parts = blocks(text)
    note_room = 200 + len(where)
    half = (limit - note_room) // 2
    head: list[str] = []
    size = 0
    for part in parts:
        if size + len(part) + 1 > half:
            break
        head.append(part)
        size += len(part) + 1
    tail: list[str] = []
    size = 0
    for part in reversed(parts[len(head) :]):
        if size + len(part) + 1 > half:
            break
        tail.insert(0, part)
        size += len(part) + 1
    left_out = parts[len(head) : len(parts) - len(tail)]
    folded = sum(len(p) + 1 for p in left_out)
    note = f"> **{folded:,} characters folded** to fit a GitHub comment"
    note += f"; the whole report is {where}.\n" if where else ".\n"
    return "\n".join([*head, note, *tail])
