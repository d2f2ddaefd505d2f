"""docs/performance.md's section on the idle runner's memory (bench/idle_rss.py): its
table, its summary row, the paragraph when the target is missed, and the closing footprint.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import MB, MIB, Page, mem, verdict


def section(page: Page) -> list[str]:
    data, summary = page.results.get("idle_rss"), page.summary
    if data is None:
        return []
    r, b, p = data["runner"], data["baseline"], data["params"]
    target_mb = data["targets"]["idle_rss_mib_max"]  # the design's "60 MB"
    idle = r["idle"]
    ok = idle["rss_mib"] * MIB / MB < target_mb
    summary.append(
        report.text(
            "summary.idle_rss.row",
            target=f"{target_mb:g}",
            idle_rss=mem(idle["rss_mib"]),
            client_rss=mem(b["aiohttp_ws_client"]["rss_mib"]),
            verdict=verdict(ok),
        )
    )
    breakdown = []
    previous = None
    for step, value in data["breakdown_mib"].items():
        delta = "" if previous is None else f"{value - previous:+.1f}"
        breakdown.append({"step": step, "rss": f"{value:.1f}", "added": delta})
        previous = value
    return report.section(
        "rss",
        start=f"{data['start_to_connected_s']:.2f}",
        runs_wall=f"{data['runs_wall_s']:.1f}",
        idle_seconds=f"{p['idle_seconds']:g}",
        target=f"{target_mb:g}",
        idle_rss=mem(idle["rss_mib"]),
        client_rss=mem(b["aiohttp_ws_client"]["rss_mib"]),
        python_rss=mem(b["python"]["rss_mib"]),
        verdict=verdict(ok),
        idle_uss=mem(idle["uss_mib"]),
        client_uss=mem(b["aiohttp_ws_client"]["uss_mib"]),
        status_requests=f"{p['status_requests']:,}",
        after_status=mem(r["after_status"]["rss_mib"]),
        status_growth=f"{r['after_status']['rss_mib'] - idle['rss_mib']:+.1f}",
        local_runs=p["local_runs"],
        after_runs=mem(r["after_runs"]["rss_mib"]),
        runs_growth=f"{r['after_runs']['rss_mib'] - idle['rss_mib']:+.1f}",
        children=r["after_runs"]["children"],
        threads=r["after_runs"]["threads"],
        breakdown=report.rows("rss.breakdown.row", breakdown),
    )


def analysis(page: Page) -> list[str]:
    """The paragraph on the idle RSS, when above the target: what each import adds."""
    rss = page.results.get("idle_rss")
    if rss is None:
        return []
    idle_mb = rss["runner"]["idle"]["rss_mib"] * MIB / MB
    if idle_mb < rss["targets"]["idle_rss_mib_max"]:
        return []
    steps = list(rss["breakdown_mib"].items())
    k8s = next((v for name, v in steps if "loads the kubernetes client" in name), None)
    paragraph = report.text(
        "analysis.idle_rss",
        idle=f"{idle_mb:.0f}",
        aiohttp=f"{steps[1][1] - steps[0][1]:.0f}",
        bare=f"{steps[0][1]:.0f}",
        kubernetes="" if k8s is None else report.text("phrase.idle_rss_kubernetes"),
    )
    return [paragraph]


def footprint(page: Page) -> list[str]:
    """The page's closing section on the runner's footprint, with the idle RSS when measured."""
    rss = page.results.get("idle_rss")
    measured = (
        report.text("phrase.footprint_measured", rss=f"{rss['runner']['idle']['rss_mib']:.1f}")
        if rss
        else report.text("phrase.footprint_unmeasured")
    )
    return report.section("footprint", measured=measured)
