"""docs/performance.md's section on the scale curve (bench/scale_curve.py): runs tracked
against RSS and ``status`` latency, the launches, the memory floor; its summary rows and the
paragraph when the RSS target is missed.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from bench import report
from bench.report import MIB, Page, mem, ms, verdict


def scale_summary(data: dict[str, Any], sizes: dict[str, Any]) -> list[str]:
    """The scale curve's summary rows: RSS at 10,000 runs, worst status p99, the launches."""
    targets, launched = data["targets"], data["launches"]
    smallest = min(sizes, key=int)
    out = []
    if "10000" in sizes:
        rss_mb = sizes["10000"]["rss_mb"]
        out.append(
            report.text(
                "summary.scale_rss.row",
                target=f"{targets['rss_mb_at_10000_max']:g}",
                rss=mem(sizes["10000"]["rss_mib"]),
                baseline=report.text(
                    "phrase.scale_baseline",
                    size=f"{int(smallest):,}",
                    value=mem(sizes[smallest]["rss_mib"]),
                ),
                verdict=verdict(rss_mb < targets["rss_mb_at_10000_max"]),
            )
        )

    def worst(entry: dict[str, Any]) -> float:
        return float(max(entry["status"]["p99_ms"], entry["status_run"]["p99_ms"]))

    worst_p99 = max(worst(entry) for entry in sizes.values())
    ok_launches = (
        launched["created"] == launched["count"]
        and launched["duplicates"] == 0
        and launched["elapsed_s"] < targets["launches_s_max"]
    )
    out += [
        report.text(
            "summary.scale_p99.row",
            largest=f"{max(int(s) for s in sizes):,}",
            target=f"{targets['status_p99_ms_max']:g}",
            worst=ms(worst_p99),
            baseline=report.text(
                "phrase.scale_baseline", size=f"{int(smallest):,}", value=ms(worst(sizes[smallest]))
            ),
            verdict=verdict(worst_p99 < targets["status_p99_ms_max"]),
        ),
        report.text(
            "summary.scale_launches.row",
            count=f"{launched['count']:,}",
            target=f"{targets['launches_s_max']:g}",
            created=f"{launched['created']:,}",
            duplicates=launched["duplicates"],
            elapsed=f"{launched['elapsed_s']:.1f}",
            verdict=verdict(ok_launches),
        ),
    ]
    return out


def section(page: Page) -> list[str]:
    data, summary = page.results.get("scale_curve"), page.summary
    if not data or not data.get("measured"):
        return []
    idle = page.results.get("idle_rss")
    sizes, launched = data["sizes"], data["launches"]
    summary += scale_summary(data, sizes)
    rows = [
        {
            "size": f"{int(size):,}",
            "adopt": f"{entry['adopt_s']:.1f}",
            "rss": mem(entry["rss_mib"]),
            "status": f"{ms(entry['status']['p50_ms'])} / {ms(entry['status']['p99_ms'])}",
            "status_run": (
                f"{ms(entry['status_run']['p50_ms'])} / {ms(entry['status_run']['p99_ms'])}"
            ),
        }
        for size, entry in sorted(sizes.items(), key=lambda item: int(item[0]))
    ]
    return report.section(
        "scale",
        launches=f"{launched['count']:,}",
        created=f"{launched['created']:,}",
        duplicates=launched["duplicates"],
        elapsed=f"{launched['elapsed_s']:.1f}",
        requests=f"{data['params']['requests']:,}",
        rows=report.rows("scale.row", rows),
        memory=scale_memory(data, idle),
    )


def _per_run_kb(sizes: dict[str, Any], a: str, b: str) -> str:
    """What each tracked run adds to the RSS between sizes ``a`` and ``b``, in kB."""
    grown = (sizes[b]["rss_mib"] - sizes[a]["rss_mib"]) * MIB / 1000
    return f"{grown / (sizes[b]['tracked'] - sizes[a]['tracked']):.1f}"


def scale_growth(sizes: dict[str, Any]) -> str:
    """``about 3.2 kB from 1,000 to 10,000 and 3.5 kB from 10,000 to 50,000``."""
    ordered = sorted(sizes, key=int)
    steps = [
        f"{_per_run_kb(sizes, a, b)} kB from {int(a):,} to {int(b):,}" for a, b in pairwise(ordered)
    ]
    return "about " + " and ".join(steps) if steps else "-"


def scale_memory(data: dict[str, Any], idle: dict[str, Any] | None) -> str:
    """The paragraph under the scale table: per-run growth, the floor, and what keeps them low."""
    floor = data.get("floor")
    return report.text(
        "scale.memory",
        growth=scale_growth(data["sizes"]),
        floor_runs=floor["tracked"] if floor else "-",
        floor=mem(floor["rss_mib"]) if floor else "not measured",
        idle=mem(idle["runner"]["idle"]["rss_mib"]) if idle else "-",
    )


def analysis(page: Page) -> list[str]:
    """The paragraph on the scale curve's RSS at 10,000 runs, when above the target."""
    scale = page.results.get("scale_curve")
    if not scale or not scale.get("measured"):
        return []
    sizes = scale["sizes"]
    if "10000" not in sizes or sizes["10000"]["rss_mb"] < scale["targets"]["rss_mb_at_10000_max"]:
        return []
    return [
        report.text(
            "analysis.scale_rss", rss=mem(sizes["10000"]["rss_mib"]), growth=scale_growth(sizes)
        )
    ]
