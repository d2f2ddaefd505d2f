"""The harness of the Kubernetes executors' unit tests: an executor of either kind whose
``KubeApi`` talks to the HTTP fake of the API server (kube_api_server.py), fake clocks, and
shortcuts to the requests the executor made of its workloads and to the answers it gets."""

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
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import JOBS, WORKFLOWS, Resource
from tests.runtime.executors.k8s_support import NAMESPACE, FakeClock, make_settings
from tests.runtime.kube_api_server import KubeApiServer, Seen

TAINT = "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ingestion}."


def no_sleep_api(server: KubeApiServer, **options: Any) -> KubeApi:
    """A ``KubeApi`` on ``server`` whose retries do not wait (their delays in ``.sleeps``)."""
    sleeps: list[float] = []
    api_client = server.api_client()
    api = KubeApi(lambda: api_client, sleep=sleeps.append, **options)
    api.sleeps = sleeps  # type: ignore[attr-defined]
    return api


@attrs.define
class Harness:
    kind: str
    executor: KubeExecutor
    wall: FakeClock
    mono: FakeClock
    #: The HTTP fake of the API server the executor's ``KubeApi`` talks to.
    server: KubeApiServer
    updates: list[tuple[str, str | None]] = attrs.field(factory=list)

    @property
    def resource(self) -> Resource:
        """The workload's kind: Workflows or Jobs."""
        return WORKFLOWS if self.kind == "argo" else JOBS

    def path(self, name: str | None = None) -> str:
        """The workloads' collection, or with ``name`` one workload."""
        return self.resource.path(NAMESPACE, name)

    # -- what the executor asked of its workloads -----------------------------------------

    def creates(self) -> list[Seen]:
        return self.server.requests("POST", self.path())

    def created(self) -> list[dict[str, Any]]:
        """The bodies of the workload creates, in order."""
        return [seen.body for seen in self.creates()]

    def _of(self, method: str, name: str | None) -> list[Seen]:
        return self.server.object_requests(method, self.path(), name)

    def reads(self, name: str | None = None) -> list[Seen]:
        """GETs of one workload (``name``'s, or any)."""
        return self._of("GET", name)

    def patches(self, name: str | None = None) -> list[Seen]:
        return self._of("PATCH", name)

    def deletes(self, name: str | None = None) -> list[Seen]:
        return self._of("DELETE", name)

    def kills(self) -> list[Seen]:
        """The requests that stop a workload: a shutdown patch (Argo), a delete (Job)."""
        if self.kind == "argo":
            return [s for s in self.patches() if "shutdown" in (s.body or {}).get("spec", {})]
        return self.deletes()

    # -- what the API server answers ------------------------------------------------------

    def answer(self, obj: dict[str, Any]) -> None:
        """The next create of ``obj``'s name answers (and keeps) ``obj``."""
        self.server.state.answers[self.path(obj["metadata"]["name"])] = obj

    def put(self, obj: dict[str, Any]) -> None:
        """``obj`` exists in the cluster already."""
        self.server.put(self.path(obj["metadata"]["name"]), obj)

    def fail(
        self,
        method: str,
        status: int,
        message: str = "boom",
        *,
        name: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` ``method`` requests of the workloads (of ``name``'s) fail."""
        self.server.fail(f"{method} {self.path(name)}", *[(status, message)] * times)

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
        self.answer(self.workload(spec, state))
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
    ``KubeApi`` options (``attempts``, ``timeout``)."""
    wall = FakeClock(1_714_557_600.0)
    mono = FakeClock(1000.0)
    tuning: dict[str, Any] = {
        "clock": wall,
        "monotonic": mono,
        "watch_backoff": 0.01,
        "watch_max_backoff": 0.02,
        "housekeeping_seconds": 3600.0,
        "grace": Grace(image_pull_report=10, image_pull=120),
        "log_tail_bytes": 1000,
    }
    api_options: dict[str, Any] = {}
    for key, value in options.items():
        (tuning if key in attrs.fields_dict(Tuning) else api_options)[key] = value
    server = KubeApiServer()
    kube_api = no_sleep_api(server, **api_options)
    settings = make_settings(**(settings_env or {}))
    module = argo if kind == "argo" else simple_k8s
    executor = module.from_settings(settings, tuning=Tuning(**tuning), kube_api=kube_api)
    harness = Harness(kind=kind, executor=executor, wall=wall, mono=mono, server=server)
    weakref.finalize(harness, server.close)
    executor.table.subscribe(lambda new, old: harness.updates.append((new.state, new.reason)))
    # As after start(): the pods are listed (none yet), so a run without a pod has none yet.
    executor.tracker.sync_pods([])
    return harness
