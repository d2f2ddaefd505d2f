"""docs/performance.md's section on the runner's RSS under maximal requests
(bench/max_requests_rss.py): one row per phase and the summary row.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report as template
from bench.report import Page

PHASES = ("max_frames", "max_ids", "log_chunks", "long_ids")


def section(page: Page) -> list[str]:
    data, summary = page.results.get("max_requests_rss"), page.summary
    if data is None:
        return []
    limit = data["targets"]["second_half_growth_mib_max"]
    worst = max(p["second_half_growth_mib"] for p in data["phases"].values())
    summary.append(
        template.text(
            "summary.max_requests.row",
            limit=f"{limit:g}",
            worst=f"{worst:+.1f}",
            peak=f"{data['rss_peak_mib']:.1f}",
            idle=f"{data['rss_idle_mib']:.1f}",
            verdict=template.verdict(data["flat"]),
        )
    )
    rows = [
        {
            "phase": template.text(f"phrase.phase.{name}") if name in PHASES else name,
            "requests": f"{p['requests']:,}",
            "replies": ", ".join(
                f"{code} {count:,}" for code, count in sorted(p["replies"].items())
            ),
            "start": f"{p['rss_start_mib']:.1f}",
            "end": f"{p['rss_end_mib']:.1f}",
            "max": f"{p['rss_max_mib']:.1f}",
            "growth": f"{p['second_half_growth_mib']:+.1f}",
        }
        for name, p in data["phases"].items()
    ]
    return template.section("max_requests", rows=template.rows("max_requests.row", rows))
