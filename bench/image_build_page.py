"""docs/performance.md's section on the runner image (bench/image_build.py, needs Docker):
its size, build times and layers, and the summary row ("not measured" without Docker).

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

from bench import report
from bench.report import MB, Page, verdict


def _layer_name(step: str) -> str:
    """docker history's step text, named for what the Dockerfile puts in that layer."""
    if not step:
        return report.text("phrase.layer.base")
    if "in /app/.venv" in step:
        return report.text("phrase.layer.venv")
    if step.rstrip().endswith(" in /"):
        return report.text("phrase.layer.project")
    return report.text("phrase.layer.other", step=step.strip()[:80])


def section(page: Page) -> list[str]:
    data, summary = page.results.get("image_build"), page.summary
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
