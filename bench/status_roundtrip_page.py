"""docs/performance.md's section on the status round trip (bench/status_roundtrip.py): its
tables, its two summary rows, the record of recent runs, and the paragraphs on a missed target.

The prose is in bench/performance.md.tmpl; this computes the values that fill it.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import report
from bench.report import Page, ms, rps, verdict

HISTORY_KEEP = 6


def record_run(meta: dict[str, Any], data: dict[str, Any]) -> None:
    """Keep the throughput ratios of the last runs of the status round trip: on a shared
    2-core machine one run can land on either side of the target, so the doc shows them all."""
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


def section(page: Page) -> list[str]:
    data = page.results.get("status_roundtrip")
    if data is None:
        return []
    summary, runs = page.summary, same_commit_runs(data, page.meta)
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


def analysis(page: Page) -> list[str]:
    """The paragraphs on the status round trip's missed targets, from the same run's numbers."""
    rt = page.results.get("status_roundtrip")
    if rt is None:
        return []
    found = [throughput_analysis(rt, same_commit_runs(rt, page.meta)), p99_analysis(rt)]
    return [paragraph for paragraph in found if paragraph is not None]


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
