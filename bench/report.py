"""docs/performance.md's prose, read from ``bench/performance.md.tmpl``, and the formatting of
its numbers.

The page's sentences, headings, table headers and row layouts live in the template; each
benchmark's section is rendered by its sibling ``bench/<benchmark>_page.py``, which only computes
the values that fill it, and ``bench/run_all.py`` puts the sections together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

TEMPLATE = Path(__file__).with_name("performance.md.tmpl")
MB = 1_000_000
MIB = 1024 * 1024


@dataclass
class Page:
    """What a section renders from: every benchmark's result by name, run_all's own record of the
    runs (``bench/results/run_all.json``), and the summary table's rows, which each section
    appends to in page order."""

    results: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    summary: list[str] = field(default_factory=list)


@functools.cache
def blocks() -> dict[str, tuple[str, ...]]:
    """The template's blocks by name: ``@@ name`` to the next block, trailing blank lines off."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in TEMPLATE.read_text().split("\n"):
        if line.startswith("@@ "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    for source in found.values():
        while source and not source[-1].strip():
            source.pop()
    return {name: tuple(source) for name, source in found.items()}


def text(name: str, /, **values: Any) -> str:
    """Block ``name`` filled with ``values`` (every placeholder must be given)."""
    return Template("\n".join(blocks()[name])).substitute(values)


def lines(name: str, /, **values: Any) -> list[str]:
    """Block ``name`` filled, as the page's lines; a line that is a lone placeholder given ""
    (a table without rows, a list without items) is left out."""
    out: list[str] = []
    for source in blocks()[name]:
        lone = source.startswith("$") and source[1:].isidentifier()
        if lone and values[source[1:]] == "":
            continue
        out += Template(source).substitute(values).split("\n")
    return out


def section(name: str, /, **values: Any) -> list[str]:
    """Block ``name`` filled, as the page's lines, and the blank line that ends it."""
    return [*lines(name, **values), ""]


def rows(name: str, items: list[dict[str, Any]]) -> str:
    """The row block ``name`` once per item, one row a line."""
    return "\n".join(text(name, **item) for item in items)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def rps(value: float) -> str:
    return f"{value:,.0f} req/s"


def mem(mib: float) -> str:
    return f"{mib:.1f} MiB ({mib * MIB / MB:.1f} MB)"
