"""``status`` latency as the run table grows: 0, 100, 1,000, 10,000, 100,000 tracked runs.

In-process, no socket: the real Dispatcher and codec as the composition root builds them (local
executor, settings as tests/conftest.py uses). Each sample is ``Dispatcher.handle_frame`` on the
encoded request text (a fresh id each time, so the reply cache never answers) plus
``codec.encode`` of the reply: the runner's whole per-request work minus the socket.

Queries: ``status {runId}`` (a finished run), ``status {pipelineFqn}`` (a pipeline with 10 runs)
and ``status`` (the runner itself). The 0-run table is the baseline: there the run and the
pipeline are unknown, so the first answers ``not_found`` and the second an empty list.

Writes bench/results/status_many_runs.json and the plot docs/img/status_latency.png.

    uv run python -m bench.status_many_runs [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench._common import ROOT, latency_summary, new_token, now_ns, runner_env, write_result
from runtime.composition import build_context, build_dispatcher
from runtime.executors.naming import run_name
from runtime.executors.table import RunRecord, RunTable
from runtime.settings import Settings
from runtime.wire import codec

SIZES = (0, 100, 1_000, 10_000, 100_000)
RUNS_PER_PIPELINE = 10
PLOT = ROOT / "docs" / "img" / "status_latency.png"
QUERIES = ("status {runId}", "status {pipelineFqn}", "status")
PIPELINE_TYPES = ("metadata", "usage", "lineage", "profiler", "dbt")
SERVICES = ("mysql_prod", "snowflake_dw", "postgres_app", "bigquery_lake", "redshift_bi")
REASONS = (
    ("failed", "NonZeroExit", "exited with code 1"),
    ("failed", "OOMKilled", "container ran out of memory (limit 2Gi)"),
    ("failed", "DeadlineExceeded", "run exceeded activeDeadlineSeconds"),
    ("stopped", "Killed", "stopped by a kill request"),
)


def make_records(n: int, rng: random.Random) -> list[RunRecord]:
    """n runs in pipelines of 10, with values like the executors write them."""
    records = []
    now_ms = 1_763_000_000_000
    for i in range(n):
        pipeline = i // RUNS_PER_PIPELINE
        service = SERVICES[pipeline % len(SERVICES)]
        ptype = PIPELINE_TYPES[pipeline % len(PIPELINE_TYPES)]
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start = now_ms - rng.randrange(0, 30 * 86_400_000)
        roll = rng.random()
        reason = message = None
        end: int | None = start + rng.randrange(20_000, 3_600_000)
        if roll < 0.80:
            state = "success"
        elif roll < 0.95:
            state, reason, message = REASONS[rng.randrange(len(REASONS))]
        elif roll < 0.98:
            state, end = "running", None
        else:
            state, end = "queued", None
        records.append(
            RunRecord(
                run_id=run_id,
                run_name=run_name(run_id),
                pipeline_fqn=f"{service}.{ptype}_ingestion_{pipeline:06d}",
                pipeline_type=ptype,
                kind="pipeline",
                state=state,
                reason=reason,
                message=message,
                start_date=start,
                end_date=end,
            )
        )
    return records


def fill(table: RunTable, records: list[RunRecord]) -> None:
    for record in records:
        table.load(record)


async def measure(dispatcher: Any, frames: list[str]) -> list[int]:
    samples = []
    handle_frame, encode = dispatcher.handle_frame, codec.encode
    for text in frames:
        t0 = now_ns()
        reply = await handle_frame(text)
        encode(reply)
        samples.append(now_ns() - t0)
    return samples


def request_frames(n: int, query: str, run_id: str, pipeline_fqn: str, tag: str) -> list[str]:
    selector = {
        "status {runId}": f',"runId":"{run_id}"',
        "status {pipelineFqn}": f',"pipelineFqn":"{pipeline_fqn}"',
        "status": "",
    }[query]
    return [f'{{"type":"status","id":"{tag}-{i:08d}"{selector}}}' for i in range(n)]


async def main(quick: bool) -> dict[str, Any]:
    iterations, warmup = (300, 50) if quick else (2000, 200)
    sizes = SIZES[:4] if quick else SIZES
    # The runner logs at INFO by default (a not_found is logged); here the lines go nowhere.
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger().setLevel(logging.INFO)
    rng = random.Random(20_251_123)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        env = runner_env("ws://127.0.0.1:9/ws", new_token(), Path(tmp))
        settings = Settings.from_env(env, require_server=True)
        for size in sizes:
            context, router = build_context(settings)
            dispatcher = build_dispatcher(context, router)
            records = make_records(size, rng)
            t0 = now_ns()
            fill(context.executor.table, records)
            fill_s = (now_ns() - t0) / 1e9
            # Ask about the newest pipeline (10 runs) and its first run; at 0 runs, unknowns.
            if records:
                target_run = next(r for r in records[-RUNS_PER_PIPELINE:] if r.final)
                run_id, pipeline_fqn = target_run.run_id, target_run.pipeline_fqn
            else:
                run_id, pipeline_fqn = str(uuid.uuid4()), "mysql_prod.metadata_ingestion_000000"
            # A collection before each set, as after any allocation burst; not during.
            gc.collect()
            entry: dict[str, Any] = {"fill_s": fill_s}
            for query in QUERIES:
                tag = f"{size}-{QUERIES.index(query)}"
                await measure(
                    dispatcher, request_frames(warmup, query, run_id, pipeline_fqn, "w" + tag)
                )
                frames = request_frames(iterations, query, run_id, pipeline_fqn, tag)
                samples = await measure(dispatcher, frames)
                reply = await dispatcher.handle_frame(frames[0])  # cached: same text as sent
                entry[query] = {
                    **latency_summary(samples),
                    "reply_bytes": len(codec.encode(reply)),
                    "ok": reply.ok,
                    "runs_in_reply": len(getattr(reply.result, "runs", []) or []),
                }
            results[str(size)] = entry
            dispatcher.close()
            del records, context, dispatcher
            gc.collect()
    plot(results)
    return {
        "params": {
            "iterations": iterations,
            "warmup": warmup,
            "runs_per_pipeline": RUNS_PER_PIPELINE,
        },
        "targets": {"p99_ms_at_10000_max": 5.0},
        "sizes": results,
        "plot": str(PLOT.relative_to(ROOT)),
    }


def plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results)
    x = range(len(sizes))
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    colours = {
        "status {runId}": "tab:blue",
        "status {pipelineFqn}": "tab:green",
        "status": "tab:orange",
    }
    for query in QUERIES:
        p50 = [results[s][query]["p50_ms"] for s in sizes]
        p99 = [results[s][query]["p99_ms"] for s in sizes]
        ax.plot(x, p50, "o-", color=colours[query], label=f"{query} p50")
        ax.plot(x, p99, "s--", color=colours[query], alpha=0.7, label=f"{query} p99")
    ax.axhline(5.0, color="red", linewidth=1, linestyle=":", label="target p99 < 5 ms (at 10k)")
    ax.set_xticks(list(x), [f"{int(s):,}" for s in sizes])
    ax.set_yscale("log")
    ax.set_xlabel("tracked runs in the run table")
    ax.set_ylabel("latency per request (ms, log)")
    ax.set_title("status: Dispatcher.handle_frame + codec.encode, in-process")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)
    plt.close(fig)
    print(f"wrote {PLOT.relative_to(ROOT)}")


def report(data: dict[str, Any]) -> None:
    for size, entry in data["sizes"].items():
        cells = "  ".join(
            f"{q}: p50 {entry[q]['p50_ms']:.3f} p99 {entry[q]['p99_ms']:.3f}" for q in QUERIES
        )
        print(f"{int(size):>7,} runs  {cells}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, up to 10,000 runs")
    args = parser.parse_args()
    result = asyncio.run(main(args.quick))
    report(result)
    write_result("status_many_runs", result)
