"""docs/performance.md sections of the measurements that need Docker: the runner image
(bench/image_build.py) and request -> pod Running on kind (bench/kind_pod_start.py).

Kept apart from run_all.py, which renders the in-process benchmarks; both append their summary
rows to the same table. The prose is in bench/performance.md.tmpl; this computes its values.
"""

from __future__ import annotations

from typing import Any

from bench import report
from bench.report import MB, verdict


def _layer_name(step: str) -> str:
    """docker history's step text, named for what the Dockerfile puts in that layer."""
    if not step:
        return report.text("phrase.layer.base")
    if "in /app/.venv" in step:
        return report.text("phrase.layer.venv")
    if step.rstrip().endswith(" in /"):
        return report.text("phrase.layer.project")
    return report.text("phrase.layer.other", step=step.strip()[:80])


def image_section(data: dict[str, Any] | None, summary: list[str]) -> list[str]:
    if not data or not data.get("measured"):
        reason = (data or {}).get("reason", report.text("phrase.image_not_run"))
        summary.append(report.text("summary.image.unmeasured.row", reason=reason))
        return []
    over = (data["size_bytes"] - data["base_bytes"]) / MB
    official = data["base_is_official"]
    if official:
        measured, ok = f"{data['size_bytes'] / MB:.0f} MB", data["size_bytes"] / MB <= 200
    else:
        measured = report.text("phrase.image_over_base", over=f"{over:.0f}")
        ok = over <= 75
    summary.append(
        report.text("summary.image.row", measured=measured, base=data["base"], verdict=verdict(ok))
    )
    layers = [
        {"size": f"{layer['bytes'] / MB:.1f}", "step": _layer_name(layer["step"])}
        for layer in data["layers"]
    ]
    return report.section(
        "image",
        base=data["base"],
        stand_in="" if official else " " + report.text("phrase.image_stand_in"),
        size=f"{data['size_bytes'] / MB:.1f}",
        over=f"{over:.1f}",
        base_size=f"{data['base_bytes'] / MB:.1f}",
        cold=f"{data['cold_s']:.1f}",
        unchanged=f"{data['unchanged_s']:.1f}",
        code_change=f"{data['code_change_s']:.1f}",
        rows=report.rows("image.row", layers),
    )


def kind_start_section(data: dict[str, Any] | None, summary: list[str]) -> list[str]:
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
