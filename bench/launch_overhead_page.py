"""docs/performance.md's section on the runner's own cost of a launch
(bench/launch_overhead.py): its table and summary row.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import Page, verdict


def section(page: Page) -> list[str]:
    data, summary = page.results.get("launch_overhead"), page.summary
    if data is None:
        return []
    target = data["target_p99_ms"]
    items = []
    worst = 0.0
    for executor, r in data["results"].items():
        launch, base = r["run_pipeline"], r["status_baseline"]
        worst = max(worst, launch["p99_ms"])
        items.append(
            {
                "executor": executor,
                "p50": f"{launch['p50_ms']:.3f}",
                "p99": f"{launch['p99_ms']:.3f}",
                "status_p50": f"{base['p50_ms']:.3f}",
                "status_p99": f"{base['p99_ms']:.3f}",
            }
        )
    summary.append(
        report.text(
            "summary.launch.row",
            target=f"{target:g}",
            worst=f"{worst:.2f}",
            verdict=verdict(worst < target),
        )
    )
    return report.section("launch", count=data["count"], rows=report.rows("launch.row", items))
