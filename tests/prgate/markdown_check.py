"""Is a text valid GitHub-flavoured markdown as routectl writes it?

markdown-it-py parses it with the GFM table extension; then we check what a
renderer would silently get wrong: every pipe-table line belongs to a parsed
table, every code fence is closed, ``<details>`` elements are balanced, and
the body fits a GitHub comment.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

GITHUB_LIMIT = 65_536


def problems(text: str) -> list[str]:
    out: list[str] = []
    if len(text) >= GITHUB_LIMIT:
        out.append(f"{len(text)} characters: over GitHub's comment limit")
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    tokens = md.parse(text)
    lines = text.split("\n")
    in_table: set[int] = set()
    in_fence: set[int] = set()
    for token in tokens:
        if token.type == "table_open" and token.map:
            in_table.update(range(*token.map))
        if token.type == "fence" and token.map:
            start, end = token.map
            in_fence.update(range(start, end))
            closing = lines[end - 1].strip() if end - 1 > start else ""
            if not closing.startswith(token.markup):
                out.append(f"line {start + 1}: code fence never closed")
    for number, line in enumerate(lines):
        if number in in_fence:
            continue
        if line.startswith("|") and number not in in_table:
            out.append(f"line {number + 1}: table row outside a table: {line[:80]!r}")
    for token in tokens:
        if token.type == "table_open" and token.map:
            start, end = token.map
            header = _cells(lines[start])
            for offset, row in enumerate(lines[start + 1 : end], start=1):
                if row.strip() and len(_cells(row)) != len(header):
                    out.append(
                        f"line {start + offset + 1}: {len(_cells(row))} cells, header has "
                        f"{len(header)}"
                    )
    opened = sum(line.count("<details") for line in lines)
    closed = sum(line.count("</details>") for line in lines)
    if opened != closed:
        out.append(f"<details> opened {opened} times, closed {closed}")
    return out


def _cells(row: str) -> list[str]:
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    # GFM splits cells at every unescaped pipe, inside inline code too.
    cells, current, escaped = [], "", False
    for ch in inner:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
    cells.append(current)
    return cells
