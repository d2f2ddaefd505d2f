"""One generic API for the namespaced objects the Kubernetes executors handle, and the
``Workload`` protocol that says what an executor's kind of workload is.

A ``Resource`` names one kind of object (a Job, a CronJob, an Argo Workflow, a CronWorkflow)
and where its methods are (``runtime.kubeapi.rest.BatchV1``'s ``*_namespaced_job``, or
``CustomObjects``' ``*_namespaced_custom_object`` with a group, version and plural; named as in
the client's generated classes, which a test may stand in).
``ResourceApi`` does create, get, patch, delete and (paged) list on any of them through the
``KubeCaller`` (retries, typed errors that name the object), so neither executor writes its
CRUD by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from runtime.executors.base import LaunchSpec, ScheduleSpec
from runtime.executors.kube.client import KubeCaller, Op, to_dict
from runtime.executors.kube.diagnostics import Diagnosis
from runtime.executors.kube.listing import Listing, Slim
from runtime.executors.kube.runs import ObjectState
from runtime.kubeapi import resource as kube
from runtime.wire.errors import LaunchFailed, NotFound

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@attrs.frozen(kw_only=True)
class Resource:
    """One kind of namespaced object and the client methods that handle it."""

    #: What it is called in messages: ``Job``, ``CronWorkflow``.
    kind: str
    #: The RBAC resource, in messages and errors: ``jobs.batch``, ``workflows.argoproj.io``.
    rbac: str
    #: The client API object (built lazily: no cluster is contacted before it is needed).
    api: Callable[[], Any]
    #: The method suffix: ``job`` for ``create_namespaced_job`` and friends.
    method: str
    #: ``(group, version, plural)`` for custom objects.
    custom: tuple[str, str, str] | None = None
    #: Said when a create answers 404 (e.g. a CRD that is not installed); else the 404 stays.
    missing_hint: str = ""

    def _fn(self, verb: str) -> Callable[..., Any]:
        if verb == "get" and self.custom is None:
            verb = "read"
        return getattr(self.api(), f"{verb}_namespaced_{self.method}")  # type: ignore[no-any-return]

    def _fixed(self) -> dict[str, str]:
        if self.custom is None:
            return {}
        group, version, plural = self.custom
        return {"group": group, "version": version, "plural": plural}


class ResourceApi:
    """Create, get, patch, delete and list any ``Resource`` in one namespace. A
    ``runtime.kubeapi.resource.Resource`` (the config Secrets) goes through
    ``KubeApi.request``."""

    def __init__(self, caller: KubeCaller, namespace: str) -> None:
        self.caller = caller
        self.namespace = namespace

    def create_object(self, res: kube.Resource, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        created = self.caller.request("POST", res, self.namespace, name, body=body)
        return created if isinstance(created, dict) else {}

    def replace_object(self, res: kube.Resource, name: str, body: dict[str, Any]) -> None:
        """PUT ``body`` as the whole object (unconditionally: no resourceVersion)."""
        self.caller.request("PUT", res, self.namespace, name, body=body)

    def call(self, verb: str, res: Resource, *, target: str | None = None, **kwargs: Any) -> Any:
        op = Op(verb, res.rbac, self.namespace, target or kwargs.get("name"))
        kwargs.update(res._fixed())
        return self.caller(op, res._fn(verb), namespace=self.namespace, **kwargs)

    def create(self, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        try:
            return to_dict(self.call("create", res, body=body, target=name))
        except NotFound as exc:
            if not res.missing_hint:
                raise
            raise LaunchFailed(
                f"cannot create {res.kind} {name} in namespace {self.namespace}: "
                f"{res.missing_hint} ({exc.message})"
            ) from None

    def get(self, res: Resource, name: str) -> dict[str, Any]:
        return to_dict(self.call("get", res, name=name))

    def patch(self, res: Resource, name: str, body: Any, content_type: str = MERGE_PATCH) -> None:
        self.call("patch", res, name=name, body=body, _content_type=content_type)

    def delete(self, res: Resource, name: str, propagation: str) -> None:
        self.call("delete", res, name=name, propagation_policy=propagation)

    def listing(self, res: Resource, slim: Slim, **kwargs: Any) -> Listing:
        """Every ``res`` matching ``kwargs`` (e.g. ``label_selector``), in pages of raw JSON,
        each object through ``slim``; fetched as it is read (``k8s_listing.Listing``)."""
        fn, args = self.lister(res)
        op = Op("list", res.rbac, self.namespace)
        return Listing(lambda **page: self.caller(op, fn, *args, **kwargs, **page), slim)

    def lister(self, res: Resource) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The list function and its leading arguments (what a watch of ``res`` uses)."""
        fn = getattr(res.api(), f"list_namespaced_{res.method}")
        if res.custom is None:
            return fn, (self.namespace,)
        group, version, plural = res.custom
        return fn, (group, version, self.namespace, plural)


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
