"""Run every benchmark, then regenerate docs/performance.md from bench/results/*.json.

    uv run python -m bench.run_all            # all benchmarks (~2-3 min on 2 cores), then the doc
    uv run python bench/run_all.py --quick    # smoke run: fewer samples
    uv run python -m bench.run_all --doc-only # rewrite the doc from the existing results
    uv run python -m bench.run_all --only reconnect

Each benchmark runs in its own process, one after the other; the load average before and after
is recorded, because other work on the machine shows up in the tail latencies. The page's prose
is bench/performance.md.tmpl; the functions below compute the values that fill it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``bench`` and ``runtime`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench._common import RESULTS, ROOT, machine
from bench.kind_sections import image_section, kind_start_section
from bench.max_requests_rss import section as max_requests_section
from bench.report import MB, MIB, mem, ms, rps, verdict

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
    if not quick and runs.get("status_roundtrip", {}).get("returncode") == 0:
        record_roundtrip(meta)
    meta["quick"] = quick
    meta["machine"] = machine()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


HISTORY_KEEP = 6


def record_roundtrip(meta: dict[str, Any]) -> None:
    """Keep the throughput ratios of the last runs of the status round trip: on a shared
    2-core machine one run can land on either side of the target, so the doc shows them all."""
    data = load("status_roundtrip")
    if data is None:
        return
    window = f"window{data['params']['window']}"
    st = data["raw"]["status"]
    entry = {
        "date": data["machine"]["date"],
        "commit": data["machine"]["git_commit"],
        "sequential": st["sequential"]["throughput_ratio"],
        "window": st[window]["throughput_ratio"],
        "window_reps": st[window].get("throughput_ratio_reps", []),
        "echo_window_rps": st[window]["echo"]["throughput_rps"],
        "runner_window_rps": st[window]["runner"]["throughput_rps"],
        "runner_cpu_us": st[window]["runner"].get("peer_cpu_us_per_request"),
    }
    history = meta.setdefault("history", {}).setdefault("status_roundtrip", [])
    history.append(entry)
    del history[:-HISTORY_KEEP]


def same_commit_runs(data: dict[str, Any], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Recorded runs of the status round trip made at the commit of ``data``."""
    history = meta.get("history", {}).get("status_roundtrip", [])
    return [h for h in history if h["commit"] == data["machine"]["git_commit"]]


def runs_below(runs: list[dict[str, Any]], target: float) -> list[dict[str, Any]]:
    """The recorded runs whose sequential or windowed ratio is below ``target``."""
    return [r for r in runs if min(r["sequential"], r["window"]) < target]


# ------------------------------------------------------------------------------------ the doc
# The page's prose is bench/performance.md.tmpl; these functions compute the values that fill it.


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def spread(slot: dict[str, Any], name: str) -> str:
    values = [r["throughput_rps"] for r in slot.get("reps", {}).get(name, [])]
    return f"{min(values):,.0f}-{max(values):,.0f}" if values else "-"


def cpu(r: dict[str, float]) -> str:
    if "peer_cpu_us_per_request" not in r:
        return "-"
    return f"{r['peer_cpu_us_per_request']:.0f} us ({r['peer_cpu_util']:.0%} of a core)"


def query_values(raw: dict[str, Any], query: str, window: str) -> dict[str, Any]:
    """One query's table of the status round trip: runner and echo, sequential and windowed."""
    seq, win = raw[query]["sequential"], raw[query][window]
    values: dict[str, Any] = {}
    for mode, slot in (("seq", seq), ("win", win)):
        for peer, prefix in (("runner", mode), ("echo", f"{mode}_echo")):
            r = slot[peer]
            values[f"{prefix}_rps"] = rps(r["throughput_rps"])
            values[f"{prefix}_spread"] = spread(slot, peer)
            values[f"{prefix}_p50"] = ms(r["p50_ms"])
            values[f"{prefix}_p99"] = ms(r["p99_ms"])
            values[f"{prefix}_cpu"] = cpu(r)
        values[f"{mode}_ratio"] = f"{slot['throughput_ratio']:.0%}"
    return values


def roundtrip_throughput_row(
    data: dict[str, Any], runs: list[dict[str, Any]], seq: dict[str, Any], win: dict[str, Any]
) -> str:
    """The summary row of the status round trip's throughput: the verdict is the median over
    the recorded runs of this commit when there are several, not one run."""
    window, min_ratio = data["params"]["window"], data["targets"]["throughput_ratio_min"]
    measured = f"{seq['throughput_ratio']:.0%} / {win['throughput_ratio']:.0%}"
    ok = min(seq["throughput_ratio"], win["throughput_ratio"]) >= min_ratio
    below = 0 if ok else 1
    if len(runs) > 1:
        seqs, wins = [r["sequential"] for r in runs], [r["window"] for r in runs]
        measured = report.text(
            "phrase.roundtrip_median",
            seq=f"{statistics.median(seqs):.0%}",
            win=f"{statistics.median(wins):.0%}",
            runs=len(runs),
            window=window,
            wins=", ".join(f"{w:.0%}" for w in wins),
        )
        ok = min(statistics.median(seqs), statistics.median(wins)) >= min_ratio
        below = len(runs_below(runs, min_ratio))
    throughput_verdict = verdict(ok)
    if ok and below:  # met on the median only: say so rather than call it met
        throughput_verdict = report.text("phrase.borderline", below=below, runs=len(runs))
    return report.text(
        "summary.roundtrip_throughput.row",
        window=window,
        min_ratio=f"{min_ratio:.0%}",
        measured=measured,
        seq_echo_rps=rps(seq["echo"]["throughput_rps"]),
        win_echo_rps=rps(win["echo"]["throughput_rps"]),
        verdict=throughput_verdict,
    )


def roundtrip_section(
    data: dict[str, Any], summary: list[str], runs: list[dict[str, Any]]
) -> list[str]:
    raw, ref, p = data["raw"], data["reference_server"], data["params"]
    window = f"window{p['window']}"
    min_ratio = data["targets"]["throughput_ratio_min"]
    max_p99 = data["targets"]["p99_ms_max"]
    lines = report.section(
        "roundtrip",
        warmup=p["warmup"],
        reps=p["reps"],
        sequential_n=f"{p['sequential_n']:,}",
        window_n=f"{p['window_n']:,}",
        window=p["window"],
    )
    for query in ("status", "status_run"):
        size = raw["sizes"][query]
        seq, win = raw[query]["sequential"], raw[query][window]
        lines += report.section(
            "roundtrip.query",
            label=report.text(f"roundtrip.label.{query}"),
            request_bytes=size["request_bytes"],
            reply_bytes=size["reply_bytes"],
            window=p["window"],
            min_ratio=f"{min_ratio:.0%}",
            max_p99=f"{max_p99:g}",
            seq_verdict=verdict(seq["throughput_ratio"] >= min_ratio),
            win_verdict=verdict(win["throughput_ratio"] >= min_ratio),
            p99_verdict=verdict(seq["runner"]["p99_ms"] < max_p99),
            **query_values(raw, query, window),
        )
        if query == "status":
            summary.append(roundtrip_throughput_row(data, runs, seq, win))
            summary.append(
                report.text(
                    "summary.roundtrip_p99.row",
                    max_p99=f"{max_p99:g}",
                    p99=ms(seq["runner"]["p99_ms"]),
                    echo_p99=ms(seq["echo"]["p99_ms"]),
                    verdict=verdict(seq["runner"]["p99_ms"] < max_p99),
                )
            )
    lines += reference_lines(raw, ref, window, p["window"])
    if len(runs) > 1:
        lines += runs_lines(runs, p["window"])
    return lines


def reference_lines(
    raw: dict[str, Any], ref: dict[str, Any], window: str, in_flight: int
) -> list[str]:
    def cell(r: dict[str, Any]) -> str:
        return report.text(
            "phrase.throughput_latency",
            rps=rps(r["throughput_rps"]),
            p50=ms(r["p50_ms"]),
            p99=ms(r["p99_ms"]),
        )

    status = raw["status"]
    return report.section(
        "roundtrip.reference",
        window=in_flight,
        reference_seq=cell(ref["sequential"]),
        raw_seq=cell(status["sequential"]["runner"]),
        reference_win=cell(ref[window]),
        raw_win=cell(status[window]["runner"]),
    )


def runs_lines(runs: list[dict[str, Any]], in_flight: int) -> list[str]:
    """The recorded runs of the status round trip at this commit, one row each."""
    items = [
        {
            "date": r["date"],
            "sequential": f"{r['sequential']:.0%}",
            "window": f"{r['window']:.0%}",
            "reps": (
                f"{min(r['window_reps']):.0%}-{max(r['window_reps']):.0%}"
                if r["window_reps"]
                else "-"
            ),
            "runner_rps": rps(r["runner_window_rps"]),
            "echo_rps": rps(r["echo_window_rps"]),
            "cpu": f"{r['runner_cpu_us']:.0f} us" if r.get("runner_cpu_us") else "-",
        }
        for r in runs
    ]
    return report.section(
        "roundtrip.runs", window=in_flight, rows=report.rows("roundtrip.runs.row", items)
    )


def rss_section(data: dict[str, Any], summary: list[str]) -> list[str]:
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


QUERIES = ("status {runId}", "status {pipelineFqn}", "status")


def many_runs_section(data: dict[str, Any], summary: list[str]) -> list[str]:
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


def reconnect_section(data: dict[str, Any], summary: list[str]) -> list[str]:
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


def concurrent_row(data: dict[str, Any] | None) -> str:
    if not data or not data.get("measured"):
        return report.text("summary.concurrent.unmeasured.row")
    ok = data["created"] == data["count"] and data["elapsed_s"] < data["target_s"]
    return report.text(
        "summary.concurrent.row",
        created=data["created"],
        count=data["count"],
        elapsed=f"{data['elapsed_s']:.2f}",
        verdict=verdict(ok),
    )


def startup_row(st: dict[str, Any]) -> str:
    return report.text(
        "summary.startup.row",
        samples=len(st["samples_s"]),
        median=f"{st['median_s']:.2f}",
        max=f"{st['max_s']:.2f}",
        baseline=f"{st['baseline_median_s']:.2f}",
    )


def launch_section(data: dict[str, Any], summary: list[str]) -> list[str]:
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


def footprint_section(results: dict[str, dict[str, Any]]) -> list[str]:
    rss = results.get("idle_rss")
    measured = (
        report.text("phrase.footprint_measured", rss=f"{rss['runner']['idle']['rss_mib']:.1f}")
        if rss
        else report.text("phrase.footprint_unmeasured")
    )
    return report.section("footprint", measured=measured)


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


def scale_section(
    data: dict[str, Any], summary: list[str], idle: dict[str, Any] | None
) -> list[str]:
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


# Profile labels of single calls (not the nested totals) in the status round trip.
SMALL_CALLS = ("decode", "handler", "context", "inc", "observe", "encode", "socket_send", "spawn")


def throughput_verdict_text(
    rt: dict[str, Any], runs: list[dict[str, Any]], ratio: float, low_reps: list[float]
) -> str:
    reps = rt["raw"]["status"][f"window{rt['params']['window']}"].get("throughput_ratio_reps", [])
    min_ratio = rt["targets"]["throughput_ratio_min"]
    if ratio < min_ratio:
        out = report.text("phrase.throughput_missed")
    elif low_reps:
        out = report.text("phrase.throughput_low_reps", low=len(low_reps), reps=len(reps))
    else:
        out = report.text("phrase.throughput_met")
    if len(runs) > 1:
        out += report.text(
            "phrase.throughput_runs",
            below=len(runs_below(runs, min_ratio)),
            runs=len(runs),
            window=rt["params"]["window"],
            wins=", ".join(f"{r['window']:.0%}" for r in runs),
        )
    return out


def throughput_analysis(rt: dict[str, Any], runs: list[dict[str, Any]]) -> str | None:
    """The paragraph on the status throughput, when a run, a repetition or a recorded run of
    this commit is below the target: where the runner's CPU per request goes."""
    min_ratio = rt["targets"]["throughput_ratio_min"]
    window = f"window{rt['params']['window']}"
    st, run = rt["raw"]["status"], rt["raw"]["status_run"]
    ratio = min(st["sequential"]["throughput_ratio"], st[window]["throughput_ratio"])
    reps = st[window].get("throughput_ratio_reps", [])
    low_reps = [r for r in reps if r < min_ratio]
    if not (ratio < min_ratio or low_reps or runs_below(runs, min_ratio)):
        return None
    rw, ew = st[window]["runner"], st[window]["echo"]
    prof = rt.get("profile", {})
    share = prof.get("share", {})

    def pct(label: str) -> str:
        return f"{share.get(label, float('nan')):.0%}"

    extra = ""
    if share.get("wait_for", 0) > 0.02:
        extra += report.text("phrase.throughput_wait_for", share=pct("wait_for"))
    if share.get("timeout", 0) > 0.02:
        extra += report.text("phrase.throughput_timeout", share=pct("timeout"))
    labels: tuple[str, ...] = ("handle_frame", "decode", "dispatch", "handler", "context")
    labels += ("inc", "observe", "encode", "send", "socket_send", "spawn")
    return report.text(
        "analysis.throughput",
        seq_ratio=f"{st['sequential']['throughput_ratio']:.0%}",
        win_ratio=f"{st[window]['throughput_ratio']:.0%}",
        window=rt["params"]["window"],
        reps=(
            report.text("phrase.throughput_reps", low=f"{min(reps):.0%}", high=f"{max(reps):.0%}")
            + " "
            if reps
            else ""
        ),
        verdict_text=throughput_verdict_text(rt, runs, ratio, low_reps),
        runner_util=f"{rw['peer_cpu_util']:.0%}",
        runner_us=f"{rw['peer_cpu_us_per_request']:.0f}",
        echo_us=f"{ew['peer_cpu_us_per_request']:.0f}",
        echo_util=f"{ew['peer_cpu_util']:.0%}",
        echo_limit=(
            report.text("phrase.throughput_echo_limit", util=f"{ew['harness_cpu_util']:.0%}")
            if ew["harness_cpu_util"] > 0.85
            else ""
        ),
        profiled=f"{prof.get('us_per_request_profiled', float('nan')):.0f}",
        extra=extra,
        more=f"{rw['peer_cpu_us_per_request'] - ew['peer_cpu_us_per_request']:.0f}",
        max_small=f"{max((v for k, v in share.items() if k in SMALL_CALLS), default=0):.0%}",
        run_seq=f"{run['sequential']['throughput_ratio']:.0%}",
        run_win=f"{run[window]['throughput_ratio']:.0%}",
        **{label: pct(label) for label in labels},
    )


def p99_analysis(rt: dict[str, Any]) -> str | None:
    seq = rt["raw"]["status"]["sequential"]
    if seq["runner"]["p99_ms"] < rt["targets"]["p99_ms_max"]:
        return None
    echo_p99 = seq["echo"]["p99_ms"]
    machine_tail = echo_p99 >= 0.5 * rt["targets"]["p99_ms_max"]
    return report.text(
        "analysis.p99",
        p99=ms(seq["runner"]["p99_ms"]),
        echo_p99=ms(echo_p99),
        p50=ms(seq["runner"]["p50_ms"]),
        cause=report.text("phrase.p99_machine" if machine_tail else "phrase.p99_runner"),
    )


def rss_analysis(rss: dict[str, Any]) -> str | None:
    idle_mb = rss["runner"]["idle"]["rss_mib"] * MIB / MB
    if idle_mb < rss["targets"]["idle_rss_mib_max"]:
        return None
    steps = list(rss["breakdown_mib"].items())
    k8s = next((v for name, v in steps if "loads the kubernetes client" in name), None)
    return report.text(
        "analysis.idle_rss",
        idle=f"{idle_mb:.0f}",
        aiohttp=f"{steps[1][1] - steps[0][1]:.0f}",
        bare=f"{steps[0][1]:.0f}",
        kubernetes="" if k8s is None else report.text("phrase.idle_rss_kubernetes"),
    )


def many_runs_analysis(many: dict[str, Any]) -> str | None:
    if "10000" not in many["sizes"]:
        return None
    at, base = many["sizes"]["10000"], many["sizes"]["0"]
    target = many["targets"]["p99_ms_at_10000_max"]
    missed = [q for q in QUERIES if at[q]["p99_ms"] >= target]
    if not missed:
        return None
    worst = max(missed, key=lambda q: at[q]["p99_ms"])
    pauses = base[worst]["p99_ms"] >= 0.6 * at[worst]["p99_ms"]
    return report.text(
        "analysis.many_runs",
        query=worst,
        p99=ms(at[worst]["p99_ms"]),
        base_p99=ms(base[worst]["p99_ms"]),
        base_p50=ms(base[worst]["p50_ms"]),
        p50=ms(at[worst]["p50_ms"]),
        cause=report.text("phrase.many_runs_pauses" if pauses else "phrase.many_runs_table"),
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


def scale_rss_analysis(scale: dict[str, Any]) -> str | None:
    """The paragraph on the scale curve's RSS at 10,000 runs, when above the target."""
    sizes = scale["sizes"]
    if "10000" not in sizes or sizes["10000"]["rss_mb"] < scale["targets"]["rss_mb_at_10000_max"]:
        return None
    return report.text(
        "analysis.scale_rss", rss=mem(sizes["10000"]["rss_mib"]), growth=scale_growth(sizes)
    )


def analysis_lines(results: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> list[str]:
    """One paragraph per missed target, from the same run's numbers and profile; ``runs`` are
    the recorded status round-trip runs at this commit."""
    found: list[str | None] = []
    rt = results.get("status_roundtrip")
    if rt:
        found += [throughput_analysis(rt, runs), p99_analysis(rt)]
    if rss := results.get("idle_rss"):
        found.append(rss_analysis(rss))
    if many := results.get("status_many_runs"):
        found.append(many_runs_analysis(many))
    scale = results.get("scale_curve")
    if scale and scale.get("measured"):
        found.append(scale_rss_analysis(scale))
    rc = results.get("reconnect")
    if rc and not rc["all_within_one_step"]:
        found.append(
            report.text(
                "analysis.reconnect",
                max=f"{rc['max_s']:.2f}",
                step=f"{rc['targets']['within_one_step_s']:.1f}",
            )
        )
    return [paragraph for paragraph in found if paragraph is not None]


def render() -> str:
    results = {name: data for name in BENCHMARKS if (data := load(name)) is not None}
    meta_path = RESULTS / "run_all.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    summary: list[str] = []
    sections: list[str] = []
    rt_runs = (
        same_commit_runs(results["status_roundtrip"], meta) if "status_roundtrip" in results else []
    )
    if "status_roundtrip" in results:
        sections += roundtrip_section(results["status_roundtrip"], summary, rt_runs)
    if "idle_rss" in results:
        sections += rss_section(results["idle_rss"], summary)
    if "status_many_runs" in results:
        sections += many_runs_section(results["status_many_runs"], summary)
    summary.append(concurrent_row(results.get("concurrent_launches")))
    if "reconnect" in results:
        sections += reconnect_section(results["reconnect"], summary)
    if "startup" in results:
        summary.append(startup_row(results["startup"]))
    if "launch_overhead" in results:
        sections += launch_section(results["launch_overhead"], summary)
    sections += image_section(results.get("image_build"), summary)
    sections += kind_start_section(results.get("kind_pod_start"), summary)
    if "max_requests_rss" in results:
        sections += max_requests_section(results["max_requests_rss"], summary)
    if results.get("scale_curve", {}).get("measured"):
        sections += scale_section(results["scale_curve"], summary, results.get("idle_rss"))
    lines = report.section("page", summary="\n".join(summary))
    analysis = analysis_lines(results, rt_runs)
    if analysis:
        lines += report.section("analysis", items="\n".join(analysis))
    lines += machine_section(meta, results)
    lines += sections
    lines += footprint_section(results)
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
