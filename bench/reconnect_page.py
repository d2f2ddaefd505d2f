"""docs/performance.md's section on reconnecting (bench/reconnect.py): its samples, its
summary row, the paragraph when a reconnect is slower than one backoff step.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import Page, verdict


def section(page: Page) -> list[str]:
    data, summary = page.results.get("reconnect"), page.summary
    if data is None:
        return []
    p = data["params"]
    step = data["targets"]["within_one_step_s"]
    ok = data["all_within_one_step"]
    summary.append(
        report.text(
            "summary.reconnect.row",
            reps=p["reps"],
            delay=f"{p['reconnect_delay_s']:g}",
            step=f"{step:.1f}",
            max=f"{data['max_s']:.2f}",
            median=f"{data['median_s']:.2f}",
            bare=f"{data['bare_connect_median_s'] * 1000:.1f}",
            verdict=verdict(ok),
        )
    )
    samples = [
        {
            "rep": i + 1,
            "reconnect": f"{s['reconnect_s']:.3f}",
            "wait_active": f"{s['wait_active_s']:.3f}",
            "bare": f"{s['bare_connect_s'] * 1000:.1f}",
        }
        for i, s in enumerate(data["samples"])
    ]
    return report.section(
        "reconnect",
        delay=f"{p['reconnect_delay_s']:g}",
        max_delay=f"{p['reconnect_max_delay_s']:g}",
        jitter=f"{p['jitter']:.0%}",
        step=f"{step:.1f}",
        down=f"{p['down_s']:g}",
        rows=report.rows("reconnect.row", samples),
        median=f"{data['median_s']:.3f}",
        max=f"{data['max_s']:.3f}",
        outcome=report.text("phrase.reconnect_ok" if ok else "phrase.reconnect_slow"),
    )


def analysis(page: Page) -> list[str]:
    """The paragraph on a reconnect slower than one backoff step."""
    rc = page.results.get("reconnect")
    if not rc or rc["all_within_one_step"]:
        return []
    return [
        report.text(
            "analysis.reconnect",
            max=f"{rc['max_s']:.2f}",
            step=f"{rc['targets']['within_one_step_s']:.1f}",
        )
    ]
