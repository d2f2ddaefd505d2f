"""docs/performance.md's summary row on the runner's start-up (bench/startup.py).

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from typing import Any

from bench import report
from bench.report import Page


def section(page: Page) -> list[str]:
    """Only a summary row, when measured."""
    st = page.results.get("startup")
    if st is None:
        return []
    page.summary.append(row(st))
    return []


def row(st: dict[str, Any]) -> str:
    return report.text(
        "summary.startup.row",
        samples=len(st["samples_s"]),
        median=f"{st['median_s']:.2f}",
        max=f"{st['max_s']:.2f}",
        baseline=f"{st['baseline_median_s']:.2f}",
    )
