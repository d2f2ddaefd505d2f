"""One generic API for the namespaced objects the Kubernetes executors handle, and the
``Workload`` protocol that says what an executor's kind of workload is.

``ResourceApi`` does create, get, replace, patch, delete and (paged) list of any
``runtime.kubeapi.resource.Resource`` (a Job, a CronJob, an Argo Workflow, a CronWorkflow, a
Secret) in the executor's namespace, each one ``KubeApi.request`` (retries, typed errors that
name the object), so neither executor writes its CRUD by hand.
"""

from __future__ import annotations

from typing import Any, Protocol

from runtime.executors.base import LaunchSpec, ScheduleSpec
from runtime.executors.kube.diagnostics import Diagnosis
from runtime.executors.kube.listing import LIST_PAGE, Listing, Slim
from runtime.executors.kube.runs import ObjectState
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import Resource
from runtime.wire.errors import LaunchFailed, NotFound

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ResourceApi:
    """Create, get, replace, patch, delete and list any ``Resource`` in one namespace."""

    def __init__(self, kube: KubeApi, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def create(self, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
        """The object as created; a 404 on a kind that says what it ``missing`` means is
        refused with that hint (a CRD that is not installed)."""
        name = body["metadata"]["name"]
        try:
            created = self.kube.request("POST", res, self.namespace, name, body=body)
        except NotFound as exc:
            if not res.missing:
                raise
            raise LaunchFailed(
                f"cannot create {res.kind} {name} in namespace {self.namespace}: "
                f"{res.missing} ({exc.message})"
            ) from None
        return created if isinstance(created, dict) else {}

    def get(self, res: Resource, name: str) -> dict[str, Any]:
        found = self.kube.request("GET", res, self.namespace, name)
        return found if isinstance(found, dict) else {}

    def replace(self, res: Resource, name: str, body: dict[str, Any]) -> None:
        """PUT ``body`` as the whole object (unconditionally: no resourceVersion)."""
        self.kube.request("PUT", res, self.namespace, name, body=body)

    def patch(self, res: Resource, name: str, body: Any, content_type: str = MERGE_PATCH) -> None:
        self.kube.request("PATCH", res, self.namespace, name, body=body, content_type=content_type)

    def delete(self, res: Resource, name: str, propagation: str) -> None:
        query = {"propagationPolicy": propagation}
        self.kube.request("DELETE", res, self.namespace, name, query=query)

    def listing(
        self, res: Resource, slim: Slim, *, label_selector: str, page: int = LIST_PAGE
    ) -> Listing:
        """Every ``res`` under ``label_selector``, in pages of ``page`` objects of raw JSON,
        each object through ``slim``; fetched as it is read (``listing.Listing``)."""

        def one_page(**query: Any) -> dict[str, Any]:
            query = {"labelSelector": label_selector, **query}
            answer = self.kube.request("GET", res, self.namespace, query=query)
            return answer if isinstance(answer, dict) else {}

        return Listing(one_page, slim, page)


class Workload(Protocol):
    """What one executor's kind of workload is (an Argo Workflow, a Job): how to build it and
    its schedule, what it says about its run, and how to stop and end it. Everything else
    (launch, watches, the run table, logs, schedules) is ``KubeExecutor``'s."""

    #: The executor's name (``argo``, ``simpleK8s``): EXECUTOR_TYPE, thread and metric names.
    name: str
    #: The workload (``Workflow``, ``Job``) and the schedule (``CronWorkflow``, ``CronJob``).
    workloads: Resource
    schedules: Resource

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        """The workload manifest of one run (pure)."""
        ...

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        """The schedule manifest of a scheduled pipeline (pure)."""
        ...

    def state(self, obj: dict[str, Any]) -> ObjectState:
        """What the workload object says about its run."""
        ...

    def resume(self, api: ResourceApi, name: str, *, deadline: int | None = None) -> None:
        """Let a workload created suspended make its pod; ``deadline``: its deadline, from its
        start (not its resume), when the workload counts it so (Argo)."""
        ...

    def kill(self, api: ResourceApi, name: str, *, queued: bool = False) -> bool:
        """Stop the workload (``queued``: it never started); True when it is gone already
        (the run is stopped now)."""
        ...

    def end(self, api: ResourceApi, name: str, diagnosis: Diagnosis) -> None:
        """End a workload whose pod cannot succeed, recording why on the object."""
        ...

    def health(self, watch_healthy: bool | None, error: str | None) -> dict[str, str]:
        """Extra health entries from the workload watch (``None``: not started)."""
        ...
