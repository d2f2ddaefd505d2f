"""Run every benchmark, then regenerate docs/performance.md from bench/results/*.json.

    uv run python -m bench.run_all            # all benchmarks (~2-3 min on 2 cores), then the doc
    uv run python bench/run_all.py --quick    # smoke run: fewer samples
    uv run python -m bench.run_all --doc-only # rewrite the doc from the existing results
    uv run python -m bench.run_all --only reconnect

Each benchmark runs in its own process, one after the other; the load average before and after
is recorded, because other work on the machine shows up in the tail latencies. The page's prose
is bench/performance.md.tmpl; each benchmark's section is rendered by its sibling
``bench/<benchmark>_page.py``, and this module only runs the benchmarks and puts the page
together: the summary table, the analysis of missed targets, the machine, the sections.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``bench`` and ``runtime`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    concurrent_launches_page,
    idle_rss_page,
    image_build_page,
    kind_pod_start_page,
    launch_overhead_page,
    max_requests_rss_page,
    reconnect_page,
    report,
    scale_curve_page,
    startup_page,
    status_many_runs_page,
    status_roundtrip_page,
)
from bench._common import RESULTS, ROOT, machine
from bench.report import Page

BENCHMARKS = (
    "status_roundtrip",
    "idle_rss",
    "status_many_runs",
    "reconnect",
    "launch_overhead",
    "concurrent_launches",
    "startup",
    "image_build",
    "kind_pod_start",
    "max_requests_rss",
    "scale_curve",
)
DOC = ROOT / "docs" / "performance.md"
# The sections in page order; each appends its rows to the summary table in that order too.
SECTIONS = (
    status_roundtrip_page,
    idle_rss_page,
    status_many_runs_page,
    concurrent_launches_page,
    reconnect_page,
    startup_page,
    launch_overhead_page,
    image_build_page,
    kind_pod_start_page,
    max_requests_rss_page,
    scale_curve_page,
)
# The paragraphs on missed targets, in the order the page gives them (not quite page order).
ANALYSES = (
    status_roundtrip_page,
    idle_rss_page,
    status_many_runs_page,
    scale_curve_page,
    reconnect_page,
)


def run(names: list[str], quick: bool) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    load1, cpus = os.getloadavg()[0], len(os.sched_getaffinity(0))
    if load1 > cpus / 2:
        print(
            f"warning: load average {load1:.1f} on {cpus} CPUs; other work will inflate the tail"
            " latencies (the doc records the load)",
            flush=True,
        )
    for name in names:
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter_ns()
        cmd = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if quick else [])]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, check=False)
        wall = (time.perf_counter_ns() - t0) / 1e9
        runs[name] = {
            "wall_s": wall,
            "returncode": proc.returncode,
            "load1_before": load_before,
            "load1_after": os.getloadavg()[0],
        }
        print(f"== {name}: {wall:.1f} s, exit {proc.returncode}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta_path = RESULTS / "run_all.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.setdefault("runs", {}).update(runs)
    roundtrip = load("status_roundtrip")
    if not quick and runs.get("status_roundtrip", {}).get("returncode") == 0 and roundtrip:
        status_roundtrip_page.record_run(meta, roundtrip)
    meta["quick"] = quick
    meta["machine"] = machine()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine_section(meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[str]:
    m = next(iter(results.values()))["machine"] if results else meta.get("machine", {})
    runs = meta.get("runs", {})
    load_rows = [
        {
            "name": name,
            "wall": f"{info['wall_s']:.0f}",
            "before": f"{info['load1_before']:.2f}",
            "after": f"{info['load1_after']:.2f}",
            "finished": results.get(name, {}).get("machine", {}).get("date", "-"),
        }
        for name, info in runs.items()
        if name in results
    ]
    total = sum(info["wall_s"] for name, info in runs.items() if name in results)
    lines = report.section(
        "machine",
        cpu=m.get("cpu_model", "?"),
        logical=m.get("logical_cpus"),
        usable=m.get("usable_cpus"),
        ram=m.get("ram_gib"),
        implementation=m.get("implementation", "CPython"),
        python=m.get("python"),
        aiohttp=m.get("aiohttp"),
        kernel=m.get("kernel"),
        commit=m.get("git_commit"),
        date=m.get("date"),
    )
    if load_rows:
        quick = " " + report.text("phrase.quick") if meta.get("quick") else ""
        lines += report.section(
            "machine.load",
            total=f"{total:.0f}",
            quick=quick,
            rows=report.rows("machine.load.row", load_rows),
        )
    return lines


def render() -> str:
    results = {name: data for name in BENCHMARKS if (data := load(name)) is not None}
    meta_path = RESULTS / "run_all.json"
    page = Page(results, json.loads(meta_path.read_text()) if meta_path.exists() else {})
    sections = [line for part in SECTIONS for line in part.section(page)]
    lines = report.section("page", summary="\n".join(page.summary))
    analysis = [text for part in ANALYSES for text in part.analysis(page)]
    if analysis:
        lines += report.section("analysis", items="\n".join(analysis))
    lines += machine_section(page.meta, results)
    lines += sections
    lines += idle_rss_page.footprint(page)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples in every benchmark")
    parser.add_argument("--doc-only", action="store_true", help="only regenerate the doc")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just this one")
    args = parser.parse_args()
    failed = False
    if not args.doc_only:
        started = time.perf_counter_ns()
        meta = run(args.only or list(BENCHMARKS), args.quick)
        failed = any(info["returncode"] != 0 for info in meta["runs"].values())
        print(f"== all benchmarks: {(time.perf_counter_ns() - started) / 1e9:.0f} s")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
