"""run_pipeline handler overhead, excluding the API round trip (issue 3 target: < 2 ms).

In-process: the real codec, Dispatcher, run_pipeline handler and Argo / Job executor (manifest
building, its requests through ``KubeApi`` and the client's request serialisation, adoption
into the run table), with the API server replaced by an ``ApiClient`` whose ``call_api``
answers each request at once (a create with the body sent), so what is timed is the runner's
own work. The same-run
baseline is ``status {runId}`` through the same dispatcher.

    uv run python -m bench.launch_overhead [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
from typing import Any

from kubernetes.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from bench._common import latency_summary, now_ns, write_result
from runtime.composition import build_context, build_dispatcher
from runtime.executors.kube import argo
from runtime.executors.kube import jobs as simple_k8s
from runtime.kubeapi.request import KubeApi
from runtime.settings import Settings
from tests.conftest import sample


class _Answer:
    """What ``call_api`` returns: a status and the body, read once."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status, self._data = status, data

    def read(self) -> bytes:
        return self._data


class InstantApiClient(ApiClient):
    """A real ``ApiClient`` (its ``param_serialize`` builds every request) that answers without
    a network: a POST with its body and a uid (created), anything else with an empty object."""

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        if method != "POST" or not isinstance(body, dict):
            return _Answer(200, b"{}")
        created = {**body, "metadata": {**body["metadata"], "uid": "uid-bench"}}
        return _Answer(201, json.dumps(created).encode())


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
    client = InstantApiClient(Configuration(host="http://127.0.0.1:9"))
    module = argo if executor_type == "argo" else simple_k8s
    executor = module.from_settings(s, kube_api=KubeApi(lambda: client))
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
