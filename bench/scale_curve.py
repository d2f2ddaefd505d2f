"""The scale curve (issue 14, item 6): the runner against the local (kwok) control plane with
1,000 / 10,000 / 50,000 tracked runs, and 1,000 concurrent launches.

Targets: runner RSS < 120 MB at 10,000 tracked runs; `status` p99 < 5 ms; 1,000 concurrent
launches replied in < 20 s with zero duplicates.

How it is measured:

1. The local control plane (``e2e/controlplane``, built by ``bash e2e/controlplane/build.sh``),
   one namespace with the chart's Role for the simpleK8s executor, a ReferenceServer in this
   process and the runner as ``python -m runtime`` (``e2e.runner_kit.RunnerProcess``).
2. The floor: the runner's RSS with ``FLOOR_RUNS`` runs (launched, the runner restarted);
   those Jobs are then deleted.
3. Launches: ``--launches`` run_pipeline requests at once; the time until every reply is in;
   then the Jobs are listed: one per run id, no name twice.
4. Tracked runs: one Job the runner made is cloned by the admin (new run id and name,
   ``suspend: true`` so that no pod is made) up to each size; the runner is restarted, re-adopts
   them all (``/readyz`` 200), idles a few seconds, and then: its RSS (psutil), and p50 / p99 of
   ``status`` and of ``status {runId}`` (a random tracked run) over ``--requests`` sequential
   requests through the server's ``request()`` (the reply decoded by the server's codec).

    uv run python -m bench.scale_curve                     # 1,000 / 10,000 / 50,000; 1,000 launches
    uv run python -m bench.scale_curve --quick             # 100 / 1,000; 100 launches
    uv run python -m bench.scale_curve --sizes 1000,10000  # other sizes

Needs a machine that is otherwise idle: creating 50,000 Jobs keeps the apiserver, etcd and the
Job controller busy for minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench._common import latency_summary, now_ns, write_result

EXECUTOR = "simpleK8s"
NAMESPACE = "bench-scale"
RUN_ID = "hybrid-runner.io/run-id"  # label (label-safe form) and annotation (full id)
# Labels the Job controller adds, which a clone must not carry.
GENERATED_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
#: Runs the floor is measured with: what the runner holds before the runs count.
FLOOR_RUNS = 10
TARGETS = {
    "rss_mb_at_10000_max": 120.0,
    "status_p99_ms_max": 5.0,
    "launches_s_max": 20.0,
}


def clone(job: dict[str, Any], run_id: str, name: str) -> dict[str, Any]:
    """A Job like ``job`` for another run: what the runner would have made for ``run_id``."""
    metadata = job["metadata"]
    template = job["spec"]["template"]
    pod_labels = {
        k: v
        for k, v in (template["metadata"].get("labels") or {}).items()
        if k not in GENERATED_LABELS
    }
    pod_labels[RUN_ID] = run_id
    spec = {k: v for k, v in job["spec"].items() if k not in ("selector", "template")}
    spec["suspend"] = True
    spec["template"] = {
        "metadata": {**template["metadata"], "labels": pod_labels},
        "spec": template["spec"],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "labels": {**(metadata.get("labels") or {}), RUN_ID: run_id},
            "annotations": {**(metadata.get("annotations") or {}), RUN_ID: run_id},
        },
        "spec": spec,
    }


def fill(admin: Any, namespace: str, model: dict[str, Any], count: int) -> list[str]:
    """Creates ``count`` clones of ``model`` (8 at a time); returns their run ids."""
    from kubernetes import client as k8s

    batch = k8s.BatchV1Api(admin)
    run_ids = [str(uuid.uuid4()) for _ in range(count)]

    def create(run_id: str) -> None:
        batch.create_namespaced_job(namespace, clone(model, run_id, f"om-scale-{run_id}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, run_ids))
    return run_ids


async def status_latencies(d: Any, run_ids: list[str], requests: int) -> dict[str, Any]:
    """p50 / p99 of ``status`` and ``status {runId}``, interleaved, after a tenth as warm-up."""
    samples: dict[str, list[int]] = {"status": [], "status_run": []}
    warmup = requests // 10
    for i in range(warmup + requests):
        for kind, frame in (
            ("status", {"type": "status"}),
            ("status_run", {"type": "status", "runId": random.choice(run_ids)}),
        ):
            t0 = now_ns()
            reply = await d.request(frame)
            elapsed = now_ns() - t0
            if not reply.get("ok"):
                raise RuntimeError(f"{kind}: {reply}")
            if i >= warmup:
                samples[kind].append(elapsed)
    return {kind: latency_summary(values) for kind, values in samples.items()}


async def launches(d: Any, count: int) -> dict[str, Any]:
    from e2e.runner_kit import new_run_id, run_frame

    run_ids = [new_run_id() for _ in range(count)]
    started = time.monotonic()
    replies = await asyncio.gather(*(d.request(run_frame(r), timeout=120) for r in run_ids))
    elapsed = time.monotonic() - started
    workloads = await asyncio.to_thread(d.workloads)
    ids = [w["metadata"]["annotations"][RUN_ID] for w in workloads]
    return {
        "count": count,
        "elapsed_s": elapsed,
        "ok_replies": sum(1 for r in replies if r.get("ok")),
        "created": len(set(ids) & set(run_ids)),
        "duplicates": len(ids) - len(set(ids)),
    }


async def wait_ready(rp: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = await asyncio.to_thread(rp.readyz)
        if got is not None and got[0] == 200:
            return time.monotonic() - t0
        if not rp.alive():
            raise RuntimeError(f"the runner exited:\n{rp.log_tail()}")
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the runner was not ready after {timeout:.0f} s:\n{rp.log_tail()}")


async def floor_rss(d: Any, rp: Any, count: int) -> dict[str, Any]:
    """The runner's RSS with ``count`` runs: launched, the runner restarted, idle 5 s; the Jobs
    are deleted afterwards so that the curve starts from an empty namespace."""
    from kubernetes import client as k8s

    from e2e.runner_kit import new_run_id, run_frame

    for reply in await asyncio.gather(*(d.request(run_frame(new_run_id())) for _ in range(count))):
        if not reply.get("ok"):
            raise RuntimeError(f"floor launch: {reply}")
    rp.stop()
    rp.start()
    await wait_ready(rp, timeout=120)
    await d.server.wait_active("e2e-agent", timeout=60)
    await asyncio.sleep(5)
    rss = psutil.Process(rp.process.pid).memory_info().rss
    batch = k8s.BatchV1Api(d.admin)
    await asyncio.to_thread(
        batch.delete_collection_namespaced_job, d.namespace, propagation_policy="Background"
    )
    deadline = time.monotonic() + 120
    while await asyncio.to_thread(d.workloads):
        if time.monotonic() > deadline:
            raise RuntimeError("the floor's Jobs were not deleted within 120 s")
        await asyncio.sleep(0.5)
    return {"tracked": count, "rss_mib": rss / 2**20, "rss_mb": rss / 1e6}


async def tracked_sizes(d: Any, rp: Any, sizes: list[int], requests: int) -> dict[str, Any]:
    """Fills the namespace up to each size, restarts the runner and measures it."""
    model = (await asyncio.to_thread(d.workloads))[0]
    run_ids = [w["metadata"]["annotations"][RUN_ID] for w in await asyncio.to_thread(d.workloads)]
    out: dict[str, Any] = {}
    for size in sorted(sizes):
        t0 = time.monotonic()
        missing = max(0, size - len(run_ids))
        run_ids += await asyncio.to_thread(fill, d.admin, d.namespace, model, missing)
        fill_s = time.monotonic() - t0
        rp.stop()
        rp.start()
        adopt_s = await wait_ready(rp, timeout=600)
        await d.server.wait_active("e2e-agent", timeout=60)
        await asyncio.sleep(5)
        rss = psutil.Process(rp.process.pid).memory_info().rss
        latencies = await status_latencies(d, run_ids, requests)
        out[str(size)] = {
            "tracked": len(run_ids),
            "fill_s": fill_s,
            "adopt_s": adopt_s,
            "rss_mib": rss / 2**20,
            "rss_mb": rss / 1e6,
            **latencies,
        }
        print(
            f"{size:>6} tracked: filled in {fill_s:.0f} s, re-adopted in {adopt_s:.1f} s, "
            f"RSS {rss / 1e6:.1f} MB, {latencies}",
            flush=True,
        )
    return out


async def measure(sizes: list[int], launch_count: int, requests: int) -> dict[str, Any]:
    from e2e.controlplane.cluster import LocalControlPlane
    from e2e.runner_kit import USER, Deployment, RunnerProcess, chart_role_rules

    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        LocalControlPlane(argo=False) as cp,
    ):
        cp.create_namespace(NAMESPACE)
        kubeconfig = cp.kubeconfig_for_role(NAMESPACE, USER, rules=chart_role_rules(EXECUTOR))
        d = Deployment(cp, NAMESPACE, EXECUTOR, kubeconfig, Path(tmp) / "state")
        await d.server.start()
        rp = RunnerProcess(d, Path(tmp) / "runner.log")
        try:
            rp.start()
            await wait_ready(rp, timeout=120)
            await d.server.wait_active("e2e-agent", timeout=60)
            floor = await floor_rss(d, rp, FLOOR_RUNS)
            print(f"floor: {floor}", flush=True)
            launched = await launches(d, launch_count)
            print(f"launches: {launched}", flush=True)
            tracked = await tracked_sizes(d, rp, sizes, requests)
        finally:
            rp.stop()
            await d.close()
    return {
        "measured": True,
        "floor": floor,
        "launches": launched,
        "sizes": tracked,
        "targets": TARGETS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 / 1,000 runs, 100 launches")
    parser.add_argument("--sizes", help="tracked-run counts, comma-separated")
    parser.add_argument("--launches", type=int, help="concurrent launches")
    parser.add_argument("--requests", type=int, default=2000, help="status requests per size")
    args = parser.parse_args()
    default_sizes = "100,1000" if args.quick else "1000,10000,50000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    launch_count = args.launches or (100 if args.quick else 1000)
    result = asyncio.run(measure(sizes, launch_count, args.requests))
    result["params"] = {"quick": args.quick, "executor": EXECUTOR, "requests": args.requests}
    write_result("scale_curve", result)


if __name__ == "__main__":
    main()
