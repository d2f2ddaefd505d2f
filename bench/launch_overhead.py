"""run_pipeline handler overhead, excluding the API round trip (issue 3 target: < 2 ms).

In-process: the real codec, Dispatcher, run_pipeline handler and Argo / Job executor (manifest
building, create, adoption into the run table), with the Kubernetes API replaced by an object
that returns the created body at once, so what is timed is the runner's own work. The same-run
baseline is ``status {runId}`` through the same dispatcher.

    uv run python -m bench.launch_overhead [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import logging
from typing import Any

from prometheus_client import CollectorRegistry

from bench._common import latency_summary, now_ns, write_result
from runtime.composition import build_context, build_dispatcher
from runtime.executors.kube import argo
from runtime.executors.kube import jobs as simple_k8s
from runtime.settings import Settings
from tests.conftest import sample


class InstantCustomObjects:
    """CustomObjectsApi stand-in: every create succeeds immediately."""

    def create_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(kwargs["body"])


class InstantBatch:
    """BatchV1Api stand-in: every create succeeds immediately."""

    def create_namespaced_job(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        body = kwargs.get("body", args[1] if len(args) > 1 else None)
        return copy.deepcopy(body)


def settings(executor: str) -> Settings:
    return Settings.from_env(
        {
            "AGENT_ID": "bench",
            "EXECUTOR_TYPE": executor,
            "INGESTION_NAMESPACE": "ingestion",
            "INGESTION_IMAGE": "registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
            "SECRETS_PREFLIGHT": "false",
        }
    )


async def measure(executor_type: str, count: int) -> dict[str, Any]:
    s = settings(executor_type)
    executor: Any
    if executor_type == "argo":
        executor = argo.from_settings(s, custom_api=InstantCustomObjects())
    else:
        executor = simple_k8s.from_settings(s, batch_api=InstantBatch())
    context, router = build_context(s, registry=CollectorRegistry(), executor=executor)
    dispatcher = build_dispatcher(context, router)
    frame = sample("run_pipeline.json")
    launches: list[int] = []
    statuses: list[int] = []
    gc.collect()
    for i in range(count):
        launch = json.dumps({**frame, "id": f"l-{i}", "runId": f"run-{i:06d}"})
        started = now_ns()
        reply = await dispatcher.handle_frame(launch)
        launches.append(now_ns() - started)
        assert reply.ok, reply
        status = json.dumps({"type": "status", "id": f"s-{i}", "runId": f"run-{i:06d}"})
        started = now_ns()
        reply = await dispatcher.handle_frame(status)
        statuses.append(now_ns() - started)
        assert reply.ok, reply
    dispatcher.close()
    warm = count // 10
    return {
        "run_pipeline": latency_summary(launches[warm:]),
        "status_baseline": latency_summary(statuses[warm:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    count = 300 if args.quick else 2000
    results = {}
    for executor_type in ("argo", "simpleK8s"):
        results[executor_type] = asyncio.run(measure(executor_type, count))
        launch = results[executor_type]["run_pipeline"]
        base = results[executor_type]["status_baseline"]
        print(
            f"{executor_type:10s} run_pipeline p50 {launch['p50_ms']:.3f} ms "
            f"p99 {launch['p99_ms']:.3f} ms | status p50 {base['p50_ms']:.3f} ms "
            f"p99 {base['p99_ms']:.3f} ms"
        )
    write_result("launch_overhead", {"count": count, "results": results, "target_p99_ms": 2.0})


if __name__ == "__main__":
    main()
