"""docs/performance.md's summary row on 100 concurrent launches
(bench/concurrent_launches.py).

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from typing import Any

from bench import report
from bench.report import Page, verdict


def section(page: Page) -> list[str]:
    """Only a summary row: measured or not."""
    page.summary.append(row(page.results.get("concurrent_launches")))
    return []


def row(data: dict[str, Any] | None) -> str:
    if not data or not data.get("measured"):
        return report.text("summary.concurrent.unmeasured.row")
    ok = data["created"] == data["count"] and data["elapsed_s"] < data["target_s"]
    return report.text(
        "summary.concurrent.row",
        created=data["created"],
        count=data["count"],
        elapsed=f"{data['elapsed_s']:.2f}",
        verdict=verdict(ok),
    )
