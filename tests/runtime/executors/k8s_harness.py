"""The harness of the Kubernetes executors' unit tests: an executor of either kind on
autospec'd ``runtime.kubeapi.rest`` classes, a fake clock, and shortcuts to the API mocks."""

from __future__ import annotations

import copy
import weakref
from typing import Any

import attrs

from runtime.executors.base import LaunchSpec
from runtime.executors.kube import argo
from runtime.executors.kube import jobs as simple_k8s
from runtime.executors.kube.diagnostics import Grace
from runtime.executors.kube.executor import KubeExecutor
from runtime.executors.kube.tuning import Tuning
from runtime.executors.table import RunRecord
from runtime.kubeapi import rest as kube_rest
from tests.runtime.executors.k8s_support import (
    FakeClock,
    autospec,
    make_settings,
    no_sleep_caller,
)
from tests.runtime.kube_api_server import KubeApiServer

TAINT = "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ingestion}."


@attrs.define
class Harness:
    kind: str
    executor: KubeExecutor
    api: Any
    core: Any
    wall: FakeClock
    mono: FakeClock
    #: The HTTP fake of the API server, for the calls that go through ``KubeApi.request``.
    server: KubeApiServer
    updates: list[tuple[str, str | None]] = attrs.field(factory=list)

    # The workload API's methods, whatever the executor.
    @property
    def create(self) -> Any:
        if self.kind == "argo":
            return self.api.create_namespaced_custom_object
        return self.api.create_namespaced_job

    @property
    def read(self) -> Any:
        if self.kind == "argo":
            return self.api.get_namespaced_custom_object
        return self.api.read_namespaced_job

    @property
    def list(self) -> Any:
        if self.kind == "argo":
            return self.api.list_namespaced_custom_object
        return self.api.list_namespaced_job

    @property
    def kill_fn(self) -> Any:
        if self.kind == "argo":
            return self.api.patch_namespaced_custom_object
        return self.api.delete_namespaced_job

    def workload(
        self, spec: LaunchSpec, state: str = "queued", *, suspended: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """The object as the API server would return it, in ``state``: resumed (as after a
        launch) unless ``suspended`` (as just created)."""
        obj = copy.deepcopy(self.executor.render(spec)[0])
        if not suspended:
            obj["spec"].pop("suspend", None)
        obj["metadata"]["resourceVersion"] = "7"
        obj["metadata"]["uid"] = "uid-" + spec.run_id
        status: dict[str, Any] = {}
        if self.kind == "argo":
            phase = {
                "queued": "Pending",
                "running": "Running",
                "success": "Succeeded",
                "failed": "Failed",
            }[state]
            status = {"phase": phase, "startedAt": "2024-05-01T10:00:00Z"}
            if state in ("success", "failed"):
                status["finishedAt"] = "2024-05-01T10:05:00Z"
            if extra.get("shutdown"):
                obj["spec"]["shutdown"] = extra["shutdown"]
        else:
            status = {"startTime": "2024-05-01T10:00:00Z"}
            if state == "running":
                status["active"] = 1
            elif state == "success":
                status["conditions"] = [{"type": "Complete", "status": "True"}]
                status["completionTime"] = "2024-05-01T10:05:00Z"
            elif state == "failed":
                status["conditions"] = [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": "2024-05-01T10:05:00Z",
                    }
                ]
        obj["status"] = status
        return obj

    def pod(
        self, spec: LaunchSpec, status: dict[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        return {
            "metadata": {
                "name": name or spec.run_name + "-pod",
                "namespace": "ingestion",
                "resourceVersion": "9",
                "annotations": {"hybrid-runner.io/run-id": spec.run_id},
            },
            "spec": {
                "containers": [
                    {"name": "main", "image": "img", "resources": {"limits": {"memory": "4096Mi"}}}
                ]
            },
            "status": status,
        }

    def launched(self, spec: LaunchSpec, state: str = "queued") -> None:
        self.create.return_value = self.workload(spec, state)
        self.executor.launch(spec)
        if state == "running":
            # A run is running once its pod is: the pod the watch would deliver.
            self.executor.tracker.pod_event(
                "ADDED", self.pod(spec, {"phase": "Running", "startTime": "2024-05-01T10:01:00Z"})
            )

    def pod_log(self, spec: LaunchSpec, text: str) -> None:
        """What the log of ``spec``'s pod reads."""
        self.server.pod_log("ingestion", spec.run_name + "-pod", text)

    def record(self, run_id: str = "run-0001") -> RunRecord:
        record = self.executor.table.get(run_id)
        assert record is not None
        return record


def build(kind: str, *, settings_env: dict[str, str] | None = None, **options: Any) -> Harness:
    """A harness of ``kind``; ``options``: ``Tuning`` fields over the harness's own, or
    ``core_api`` / ``caller``."""
    wall = FakeClock(1_714_557_600.0)
    mono = FakeClock(1000.0)
    core = autospec(kube_rest.CoreV1)
    tuning: dict[str, Any] = {
        "clock": wall,
        "monotonic": mono,
        "watch_backoff": 0.01,
        "watch_max_backoff": 0.02,
        "housekeeping_seconds": 3600.0,
        "grace": Grace(image_pull_report=10, image_pull=120),
        "log_tail_bytes": 1000,
    }
    server = KubeApiServer()
    api_client = server.api_client()
    common: dict[str, Any] = {
        "core_api": core,
        "caller": no_sleep_caller(client=lambda: api_client),
    }
    for key, value in options.items():
        (tuning if key in attrs.fields_dict(Tuning) else common)[key] = value
    common["tuning"] = Tuning(**tuning)
    settings = make_settings(**(settings_env or {}))
    if kind == "argo":
        api = autospec(kube_rest.CustomObjects)
        executor = argo.from_settings(settings, custom_api=api, **common)
    else:
        api = autospec(kube_rest.BatchV1)
        executor = simple_k8s.from_settings(settings, batch_api=api, **common)
    harness = Harness(
        kind=kind, executor=executor, api=api, core=core, wall=wall, mono=mono, server=server
    )
    weakref.finalize(harness, server.close)
    executor.table.subscribe(lambda new, old: harness.updates.append((new.state, new.reason)))
    # As after start(): the pods are listed (none yet), so a run without a pod has none yet.
    executor.tracker.sync_pods([])
    return harness
