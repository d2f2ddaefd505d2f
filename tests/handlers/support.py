"""Handler tests' context: the real ``build_context`` around an executor of choice.

The Kubernetes executors get ``create_autospec``'d API classes (``k8s_support.autospec``: a
wrong method name or argument fails the test), a retry-free caller, and a fake secrets store
whose references starting with ``missing-`` do not exist.
"""

from __future__ import annotations

import copy
import weakref
from pathlib import Path
from typing import Any

import attrs
from prometheus_client import CollectorRegistry

from runtime.composition import build_context
from runtime.executors.base import Executor
from runtime.executors.kube import argo
from runtime.executors.kube import jobs as simple_k8s
from runtime.executors.kube.executor import KubeExecutor
from runtime.executors.kube.tuning import Tuning
from runtime.executors.local.executor import LocalExecutor
from runtime.kubeapi import rest as kube_rest
from runtime.secrets import SecretsService
from runtime.serving.context import Context
from runtime.wire.errors import SecretNotFound
from tests.runtime.executors.k8s_support import (
    autospec,
    make_settings,
    no_sleep_caller,
)
from tests.runtime.kube_api_server import KubeApiServer, Seen

KINDS = ("argo", "simpleK8s")


class FakeStore:
    provider = "kubernetes"
    backend = "kubernetes"

    def __init__(self) -> None:
        self.checked: list[str] = []

    def validate_id(self, secret_id: str) -> str | None:
        return None

    def check(self, secret_id: str) -> None:
        self.checked.append(secret_id)
        if secret_id.startswith("missing-"):
            raise SecretNotFound(f"secret {secret_id!r} not found in namespace ingestion")

    def pod_env(self) -> dict[str, str]:
        return {"KUBERNETES_IN_CLUSTER": "true", "KUBERNETES_NAMESPACE": "ingestion"}


@attrs.define
class Kube:
    """A context with a Kubernetes executor and the autospec'd APIs behind it."""

    kind: str
    ctx: Context
    executor: KubeExecutor
    api: Any
    core: Any
    store: FakeStore
    #: The HTTP fake of the API server, for the calls that go through ``KubeApi.request``.
    server: KubeApiServer

    def method(self, argo: str, jobs: str) -> Any:
        return getattr(self.api, argo if self.kind == "argo" else jobs)

    @property
    def create_schedule(self) -> Any:
        return self.method("create_namespaced_custom_object", "create_namespaced_cron_job")

    @property
    def read_schedule(self) -> Any:
        return self.method("get_namespaced_custom_object", "read_namespaced_cron_job")

    @property
    def patch_schedule(self) -> Any:
        return self.method("patch_namespaced_custom_object", "patch_namespaced_cron_job")

    @property
    def delete_schedule(self) -> Any:
        return self.method("delete_namespaced_custom_object", "delete_namespaced_cron_job")

    @property
    def list_runs(self) -> Any:
        return self.method("list_namespaced_custom_object", "list_namespaced_job")

    @property
    def delete_run(self) -> Any:
        return self.method("delete_namespaced_custom_object", "delete_namespaced_job")

    @property
    def secrets_created(self) -> list[dict[str, Any]]:
        """The config Secrets created, in order (bodies as sent)."""
        return [seen.body for seen in self.server.requests("POST", "/secrets")]

    @property
    def secrets_replaced(self) -> list[Seen]:
        """The config Secrets replaced (PUT), in order."""
        return self.server.requests("PUT", "")

    def pod_log(self, pod: str, text: str) -> None:
        """What the log of pod ``pod`` reads."""
        self.server.pod_log("ingestion", pod, text)

    def stored(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """``manifest`` as the API server returns it."""
        obj = copy.deepcopy(manifest)
        obj["metadata"].update({"resourceVersion": "11", "uid": "uid-1"})
        obj["metadata"]["annotations"]["cronworkflows.argoproj.io/last-used-schedule"] = "x"
        return obj


def with_store(ctx: Context) -> tuple[Context, FakeStore]:
    store = FakeStore()
    secrets = SecretsService(store, ctx.metrics, scope=ctx.secrets.scope)
    return attrs.evolve(ctx, secrets=secrets), store


def kube(
    kind: str, *, dry_run: bool = False, env: dict[str, str] | None = None, **options: Any
) -> Kube:
    settings = make_settings(EXECUTOR_TYPE=kind, **(env or {}))
    core = autospec(kube_rest.CoreV1)
    server = KubeApiServer()
    api_client = server.api_client()
    common: dict[str, Any] = {
        "core_api": core,
        "caller": no_sleep_caller(client=lambda: api_client),
    }
    tuning = {key: options.pop(key) for key in list(options) if key in attrs.fields_dict(Tuning)}
    common.update(options, tuning=Tuning(**tuning))
    executor: KubeExecutor
    if kind == "argo":
        api = autospec(kube_rest.CustomObjects)
        executor = argo.from_settings(settings, custom_api=api, **common)
    else:
        api = autospec(kube_rest.BatchV1)
        executor = simple_k8s.from_settings(settings, batch_api=api, **common)
    ctx, _ = build_context(
        settings, registry=CollectorRegistry(), executor=executor, dry_run=dry_run
    )
    ctx, store = with_store(ctx)
    made = Kube(
        kind=kind, ctx=ctx, executor=executor, api=api, core=core, store=store, server=server
    )
    weakref.finalize(made, server.close)
    # An unconfigured call answers like the API server would (the stored object), not with a
    # MagicMock.
    made.create_schedule.side_effect = lambda *_, body, **__: made.stored(body)
    made.method("create_namespaced_custom_object", "create_namespaced_job").side_effect = (
        lambda *_, body, **__: made.stored(body)
    )
    return made


def local_context(tmp_path: Path, **env: str) -> tuple[Context, LocalExecutor]:
    settings = make_settings(STATE_DIR=str(tmp_path / "state"), **env)
    executor = LocalExecutor(settings)
    engine: Executor = executor
    ctx, _ = build_context(settings, registry=CollectorRegistry(), executor=engine)
    ctx, _store = with_store(ctx)
    return ctx, executor


# -- objects as the API server returns them -------------------------------------------------------

STATUS: dict[str, dict[str, dict[str, Any]]] = {
    "argo": {
        "queued": {"phase": "Pending"},
        "running": {"phase": "Running", "startedAt": "2024-05-01T10:00:00Z"},
        "success": {
            "phase": "Succeeded",
            "startedAt": "2024-05-01T10:00:00Z",
            "finishedAt": "2024-05-01T10:05:00Z",
        },
        "failed": {
            "phase": "Failed",
            "startedAt": "2024-05-01T10:00:00Z",
            "finishedAt": "2024-05-01T10:05:00Z",
            "message": "main: exit code 1",
        },
    },
    "simpleK8s": {
        "queued": {},
        "running": {"startTime": "2024-05-01T10:00:00Z", "active": 1},
        "success": {
            "startTime": "2024-05-01T10:00:00Z",
            "completionTime": "2024-05-01T10:05:00Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
        "failed": {
            "startTime": "2024-05-01T10:00:00Z",
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "lastTransitionTime": "2024-05-01T10:05:00Z",
                }
            ],
        },
    },
}


def with_status(kind: str, obj: dict[str, Any], state: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].setdefault("resourceVersion", "7")
    out["status"] = copy.deepcopy(STATUS[kind][state])
    return out


def scheduled_run(kind: str, schedule: dict[str, Any], suffix: str, state: str) -> dict[str, Any]:
    """The Workflow/Job a cron controller makes of ``schedule`` (its name, its template's
    metadata, the controller's own label), in ``state``."""
    name = f"{schedule['metadata']['name']}-{suffix}"
    if kind == "argo":
        template = schedule["spec"]["workflowMetadata"]
        labels = {
            **template["labels"],
            "workflows.argoproj.io/cron-workflow": schedule["metadata"]["name"],
        }
        spec = schedule["spec"]["workflowSpec"]
        api_version, obj_kind = "argoproj.io/v1alpha1", "Workflow"
    else:
        template = schedule["spec"]["jobTemplate"]["metadata"]
        labels = dict(template["labels"])
        spec = schedule["spec"]["jobTemplate"]["spec"]
        api_version, obj_kind = "batch/v1", "Job"
    owner = {
        "apiVersion": schedule["apiVersion"],
        "kind": schedule["kind"],
        "name": schedule["metadata"]["name"],
        "uid": schedule["metadata"].get("uid", "uid-1"),
        "controller": True,
    }
    obj = {
        "apiVersion": api_version,
        "kind": obj_kind,
        "metadata": {
            "name": name,
            "namespace": "ingestion",
            "uid": f"uid-{name}",
            "labels": labels,
            "annotations": dict(template["annotations"]),
            "ownerReferences": [owner],  # as the cron controllers set it
        },
        "spec": copy.deepcopy(spec),
    }
    return with_status(kind, obj, state)


def scheduled_pod(kind: str, run: dict[str, Any], phase: str = "Running") -> dict[str, Any]:
    """The pod of a scheduled run: the template's labels and annotations, the controller's
    labels and its ownerReference to the run's object (no run-id annotation)."""
    name, uid = run["metadata"]["name"], run["metadata"]["uid"]
    if kind == "argo":
        labels = {"workflows.argoproj.io/workflow": name}
    else:
        labels = {"batch.kubernetes.io/job-name": name, "batch.kubernetes.io/controller-uid": uid}
    owner = {"apiVersion": run["apiVersion"], "kind": run["kind"], "name": name, "uid": uid}
    return {
        "metadata": {
            "name": f"{name}-pod",
            "namespace": "ingestion",
            "resourceVersion": "9",
            "labels": {**run["metadata"]["labels"], **labels},
            "annotations": dict(run["metadata"]["annotations"]),
            "ownerReferences": [owner],
        },
        "spec": {"containers": [{"name": "main", "image": "img"}]},
        "status": {"phase": phase, "startTime": "2024-05-01T10:00:00Z"},
    }


def listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "List", "metadata": {"resourceVersion": "100"}, "items": items}
