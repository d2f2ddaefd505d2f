"""docs/performance.md's section on request -> pod Running on kind
(bench/kind_pod_start.py, needs the kind tier): its table and the summary row ("not measured"
without it).

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import Page, verdict


def section(page: Page) -> list[str]:
    data, summary = page.results.get("kind_pod_start"), page.summary
    if not data or not data.get("measured"):
        summary.append(report.text("summary.kind_start.unmeasured.row"))
        return []
    executors = data["executors"]
    worst = max(r["share_median"] for r in executors.values())
    summary.append(
        report.text(
            "summary.kind_start.row",
            worst=f"{worst:.1%}",
            verdict=verdict(worst < data["target_share"]),
        )
    )
    rows = [
        {
            "executor": name,
            "samples": r["samples"],
            "total_p50": f"{r['total_p50_s']:.2f}",
            "total_p95": f"{r['total_p95_s']:.2f}",
            "reply_p50": f"{r['reply_p50_s'] * 1000:.0f}",
            "reply_p95": f"{r['reply_p95_s'] * 1000:.0f}",
            "share": f"{r['share_median']:.1%}",
            "share_max": f"{r['share_max']:.1%}",
        }
        for name, r in executors.items()
    ]
    return report.section("kind_start", rows=report.rows("kind_start.row", rows))
