"""Handler tests' context: the real ``build_context`` around an executor of choice.

A Kubernetes executor's ``KubeApi`` talks to the HTTP fake of the API server
(``tests/runtime/kube_api_server.py``) without waiting between retries: the tests put the
schedules (CronWorkflows/CronJobs) and runs (Workflows/Jobs) there that the cluster would hold,
and assert on what the executor asked of it and on what it holds afterwards. The secrets store
is a fake whose references starting with ``missing-`` do not exist.
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
from runtime.kubeapi.resource import CRON_JOBS, CRON_WORKFLOWS, JOBS, SECRETS, WORKFLOWS, Resource
from runtime.secrets import SecretsService
from runtime.serving.context import Context
from runtime.wire.errors import SecretNotFound
from tests.runtime.executors.k8s_harness import no_sleep_api
from tests.runtime.executors.k8s_support import NAMESPACE, make_settings
from tests.runtime.kube_api_server import KubeApiServer, Seen

KINDS = ("argo", "simpleK8s")
#: The annotation Argo's cron controller keeps on a CronWorkflow (not the runner's to touch).
LAST_USED_SCHEDULE = "cronworkflows.argoproj.io/last-used-schedule"


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
    """A context with a Kubernetes executor and the fake API server behind it."""

    kind: str
    ctx: Context
    executor: KubeExecutor
    store: FakeStore
    #: The HTTP fake of the API server the executor's ``KubeApi`` talks to.
    server: KubeApiServer

    @property
    def schedules(self) -> Resource:
        """The schedules' kind: CronWorkflows or CronJobs."""
        return CRON_WORKFLOWS if self.kind == "argo" else CRON_JOBS

    @property
    def workloads(self) -> Resource:
        """The runs' kind: Workflows or Jobs."""
        return WORKFLOWS if self.kind == "argo" else JOBS

    def path(self, res: Resource, name: str | None = None) -> str:
        return res.path(NAMESPACE, name)

    # -- what the executor asked of the API server ------------------------------------------

    def requests(self, method: str, res: Resource, name: str | None = None) -> list[Seen]:
        """The ``method`` requests of one ``res`` object (``name``'s), or of any (not of the
        collection: creates and lists are ``creates``/``server.list_requests``)."""
        return self.server.object_requests(method, self.path(res), name)

    def creates(self, res: Resource) -> list[dict[str, Any]]:
        """The bodies of the creates of ``res`` objects, in order."""
        return [seen.body for seen in self.server.requests("POST", self.path(res))]

    def schedule_creates(self) -> list[dict[str, Any]]:
        return self.creates(self.schedules)

    def workload_creates(self) -> list[dict[str, Any]]:
        return self.creates(self.workloads)

    @property
    def secrets_created(self) -> list[dict[str, Any]]:
        """The config Secrets created, in order (bodies as sent)."""
        return self.creates(SECRETS)

    @property
    def secrets_replaced(self) -> list[Seen]:
        """The config Secrets replaced (PUT), in order."""
        return self.requests("PUT", SECRETS)

    # -- what the API server holds --------------------------------------------------------

    def stored(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """``manifest`` as the API server returns it once created (its uid as the fake gives
        it) and its cron controller has run it (its own annotation)."""
        obj = copy.deepcopy(manifest)
        name = obj["metadata"]["name"]
        obj["metadata"].update({"resourceVersion": "11", "uid": f"uid-{name}"})
        obj["metadata"].setdefault("annotations", {})[LAST_USED_SCHEDULE] = "x"
        return obj

    def hold(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` exists in the cluster (as a ``res``); returns it."""
        self.server.put(self.path(res, obj["metadata"]["name"]), obj)
        return obj

    def held(self, res: Resource, name: str) -> dict[str, Any] | None:
        """The ``res`` object ``name`` as the API server holds it now (None: it has none)."""
        return self.server.state.objects.get(self.path(res, name))

    def fail(self, method: str, res: Resource, name: str | None, *answers: tuple[int, str]) -> None:
        """The next ``method`` requests of ``res`` object ``name`` (of the collection when
        None) get ``answers``."""
        self.server.fail(f"{method} {self.path(res, name)}", *answers)

    def pod_log(self, pod: str, text: str) -> None:
        """What the log of pod ``pod`` reads."""
        self.server.pod_log("ingestion", pod, text)


def with_store(ctx: Context) -> tuple[Context, FakeStore]:
    store = FakeStore()
    secrets = SecretsService(store, ctx.metrics, scope=ctx.secrets.scope)
    return attrs.evolve(ctx, secrets=secrets), store


def kube(
    kind: str, *, dry_run: bool = False, env: dict[str, str] | None = None, **options: Any
) -> Kube:
    """``options``: ``Tuning`` fields, or ``KubeApi`` options (``attempts``, ``timeout``)."""
    settings = make_settings(EXECUTOR_TYPE=kind, **(env or {}))
    server = KubeApiServer()
    tuning = {key: options.pop(key) for key in list(options) if key in attrs.fields_dict(Tuning)}
    module = argo if kind == "argo" else simple_k8s
    executor = module.from_settings(
        settings, tuning=Tuning(**tuning), kube_api=no_sleep_api(server, **options)
    )
    ctx, _ = build_context(
        settings, registry=CollectorRegistry(), executor=executor, dry_run=dry_run
    )
    ctx, store = with_store(ctx)
    made = Kube(kind=kind, ctx=ctx, executor=executor, store=store, server=server)
    weakref.finalize(made, server.close)
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
