"""docs/performance.md's section on ``status`` with many runs tracked
(bench/status_many_runs.py): its tables, its summary row, the paragraph when the target is
missed.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import Page, ms, verdict

QUERIES = ("status {runId}", "status {pipelineFqn}", "status")


def section(page: Page) -> list[str]:
    data, summary = page.results.get("status_many_runs"), page.summary
    if data is None:
        return []
    sizes = data["sizes"]
    target = data["targets"]["p99_ms_at_10000_max"]
    base = sizes["0"]
    rows = [
        report.text(
            "many_runs.baseline_row" if size == "0" else "many_runs.row",
            size=f"{int(size):,}",
            fill=f"{entry['fill_s']:.2f}",
            **{
                key: f"{ms(entry[q]['p50_ms'])} / {ms(entry[q]['p99_ms'])}"
                for key, q in zip(("by_run", "by_pipeline", "all"), QUERIES, strict=True)
            },
        )
        for size, entry in sizes.items()
    ]
    lines = report.section(
        "many_runs",
        runs_per_pipeline=data["params"]["runs_per_pipeline"],
        iterations=f"{data['params']['iterations']:,}",
        warmup=data["params"]["warmup"],
        rows="\n".join(rows),
    )
    if "10000" in sizes:
        at = sizes["10000"]
        verdicts = [
            {
                "query": q,
                "target": f"{target:g}",
                "p99": ms(at[q]["p99_ms"]),
                "base": ms(base[q]["p99_ms"]),
                "verdict": verdict(at[q]["p99_ms"] < target),
            }
            for q in QUERIES
        ]
        lines += report.section(
            "many_runs.verdicts", rows=report.rows("many_runs.verdicts.row", verdicts)
        )
        worst = max(at[q]["p99_ms"] for q in QUERIES)
        summary.append(
            report.text(
                "summary.many_runs.row",
                target=f"{target:g}",
                worst=ms(worst),
                base=ms(max(base[q]["p99_ms"] for q in QUERIES)),
                verdict=verdict(worst < target),
            )
        )
    return lines


def analysis(page: Page) -> list[str]:
    """The paragraph on ``status`` with 10,000 runs tracked, when its p99 misses the target."""
    many = page.results.get("status_many_runs")
    if many is None or "10000" not in many["sizes"]:
        return []
    at, base = many["sizes"]["10000"], many["sizes"]["0"]
    target = many["targets"]["p99_ms_at_10000_max"]
    missed = [q for q in QUERIES if at[q]["p99_ms"] >= target]
    if not missed:
        return []
    worst = max(missed, key=lambda q: at[q]["p99_ms"])
    pauses = base[worst]["p99_ms"] >= 0.6 * at[worst]["p99_ms"]
    paragraph = report.text(
        "analysis.many_runs",
        query=worst,
        p99=ms(at[worst]["p99_ms"]),
        base_p99=ms(base[worst]["p99_ms"]),
        base_p50=ms(base[worst]["p50_ms"]),
        p50=ms(at[worst]["p50_ms"]),
        cause=report.text("phrase.many_runs_pauses" if pauses else "phrase.many_runs_table"),
    )
    return [paragraph]
