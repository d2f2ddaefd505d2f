"""``EXECUTOR_TYPE=argo``: one Argo ``Workflow`` (argoproj.io/v1alpha1) per run.

Workflows are created through the Kubernetes API (custom objects), so no Argo Server is
needed: only the CRDs and the workflow-controller. The manifest, built by the pure
``workflow_manifest``::

    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {name: om-<run>-<hash>, namespace, labels, annotations}   # see k8s_pod
    spec:
      suspend: true                           # resumed once its config Secret exists
      entrypoint: main
      serviceAccountName / automountServiceAccountToken / imagePullSecrets / securityContext
      tolerations / affinity / nodeSelector / podPriorityClassName     # ARGO_PIPELINE_TYPE_CONFIGS
      ttlStrategy: {secondsAfterCompletion: ARGO_SECONDS_AFTER_COMPLETION_TTL}
      podGC: {strategy: OnPodSuccess, deleteDelayDuration: 300s}
      activeDeadlineSeconds: ...                                       # when configured
      podMetadata: {labels, annotations}                               # the pod finds its run
      templates: [{name: main, container: {name: main, command: [...], ...},
                   podSpecPatch: ...}]                                 # init/wait hardened
    # then ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH is deep-merged into spec, and
    # ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH into the container.

The run's config is in a Secret of the Workflow's name, owned by the Workflow
(``config_secret.secret_manifest``): the Workflow is created suspended (Argo marks it Running
but creates no pod), the Secret made with its uid as owner, then ``spec.suspend`` removed.

The container always has a ``command``: without one the controller asks the image registry for
the entrypoint. Failed pods are kept (until the Workflow's TTL) for ``kubectl logs``; succeeded
ones go five minutes after the runner has captured their log tail.

Kill is ``spec.shutdown: Terminate`` (merge patch; ``ArgoWorkflows.shutdown``: ``Stop`` would let
exit handlers run). What a Workflow's phase means for its run is ``argo_state``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import attrs

from runtime.config.pods import IngestionPodSettings
from runtime.executors.admission import queues_runs
from runtime.executors.base import LaunchSpec, ScheduleSpec
from runtime.executors.deadlines import Deadline, deadline_annotations, decide
from runtime.executors.kube.argo_state import TERMINATE, workflow_state
from runtime.executors.kube.custom_config import argo_workflow_params, deep_merge, spec_files
from runtime.executors.kube.diagnostics import Diagnosis
from runtime.executors.kube.executor import KubeExecutor, assemble
from runtime.executors.kube.pod import (
    check_name,
    container_security_context,
    main_container,
    pod_fields,
    run_annotations,
    run_labels,
    schedule_annotations,
    schedule_container,
    schedule_labels,
    workflow_run_id,
)
from runtime.executors.kube.resources import ResourceApi
from runtime.executors.kube.runs import ObjectState, failure_annotations
from runtime.executors.kube.tuning import Tuning
from runtime.executors.naming import schedule_name
from runtime.executors.scheduling import (
    ARGO_VARIABLE,
    Placement,
    apply_container_placement,
    parse_pipeline_type_configs,
    placement_for,
)
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import CRON_WORKFLOWS, WORKFLOWS, Resource
from runtime.settings import Settings

log = logging.getLogger(__name__)

NAME = "argo"
API_VERSION = WORKFLOWS.api_version
STOP = "Stop"
DEFAULT_POD_GC: dict[str, Any] = {"strategy": "OnPodSuccess", "deleteDelayDuration": "300s"}


def sidecars_patch(settings: IngestionPodSettings) -> str:
    """Argo's own ``init`` and ``wait`` containers get ``main``'s hardening, so every pod passes
    the Pod Security Standards' ``restricted`` profile whatever the workflow-controller's
    ``executor.securityContext`` says (Argo installed by another chart, or by hand). A
    template's ``podSpecPatch`` is a strategic merge patch applied after Argo adds them; a
    workflow-level ``podSpecPatch`` from customConfig still applies on top."""
    hardened = container_security_context(settings)
    return json.dumps(
        {
            "initContainers": [{"name": "init", "securityContext": hardened}],
            "containers": [{"name": "wait", "securityContext": hardened}],
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def workflow_spec(
    settings: Settings,
    *,
    container: dict[str, Any],
    placement: Placement,
    pod_labels: dict[str, str],
    pod_annotations: dict[str, str],
    workflow_params: dict[str, Any] | None = None,
    container_params: dict[str, Any] | None = None,
    active_deadline_seconds: int | None = None,
    pod_gc: dict[str, Any] | None = None,
    ttl: bool = True,
) -> dict[str, Any]:
    """The ``spec`` of a Workflow (or a CronWorkflow's ``workflowSpec``) around ``container``."""
    container = apply_container_placement(container, placement)
    if container_params:
        container = deep_merge(container, container_params)
    spec: dict[str, Any] = {"entrypoint": "main"}
    spec.update(pod_fields(settings))
    if not settings.ingestion_automount_sa_token:
        # Argo refuses automountServiceAccountToken=false without an executor service account:
        # its wait container still talks to the API (the chart's "pass it by hand").
        spec["executor"] = {"serviceAccountName": settings.ingestion_service_account or "default"}
    spec.update(placement.pod_fields(priority_key="podPriorityClassName"))
    if ttl:
        spec["ttlStrategy"] = {"secondsAfterCompletion": settings.argo_ttl_seconds}
    spec["podGC"] = dict(pod_gc if pod_gc is not None else DEFAULT_POD_GC)
    if active_deadline_seconds:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    spec["podMetadata"] = {"labels": dict(pod_labels), "annotations": dict(pod_annotations)}
    spec["templates"] = [
        {"name": "main", "container": container, "podSpecPatch": sidecars_patch(settings)}
    ]
    if workflow_params:
        spec = deep_merge(spec, workflow_params)
    return spec


def workflow_manifest(
    settings: Settings,
    spec: LaunchSpec,
    *,
    placements: dict[str, Placement] | None = None,
    workflow_params: dict[str, Any] | None = None,
    container_params: dict[str, Any] | None = None,
    pod_gc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Workflow that runs ``spec`` (pure: settings + spec -> manifest)."""
    obj_labels = run_labels(settings, spec)
    obj_annotations = run_annotations(spec)
    placement = placement_for(placements or {}, spec.pipeline_type)
    deadline = run_deadline(settings, spec.pipeline_type, placement, workflow_params)
    workflow: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "name": check_name(spec.run_name),
            "namespace": settings.ingestion_namespace,
            "labels": obj_labels,
            "annotations": {**obj_annotations, **deadline_annotations(deadline)},
        },
        "spec": workflow_spec(
            settings,
            container=main_container(settings, spec),
            placement=placement,
            pod_labels=obj_labels,
            pod_annotations=obj_annotations,
            workflow_params=workflow_params,
            container_params=container_params,
            active_deadline_seconds=deadline.seconds if deadline else None,
            pod_gc=pod_gc,
        ),
    }
    # No pod before the config Secret exists: KubeExecutor.launch resumes it.
    workflow["spec"] = {"suspend": True, **workflow["spec"]}
    return workflow


def run_deadline(
    settings: Settings,
    pipeline_type: str,
    placement: Placement,
    workflow_params: dict[str, Any] | None,
) -> Deadline | None:
    """A Workflow's deadline: customConfig's, the pipeline type's, RUN_TIMEOUT_SECONDS."""
    return decide(
        settings,
        pipeline_type=pipeline_type,
        of_type=placement.active_deadline_seconds,
        variable=ARGO_VARIABLE,
        workflow_params=(workflow_params or {}).get("activeDeadlineSeconds"),
    )


def cron_workflow_manifest(
    settings: Settings,
    spec: ScheduleSpec,
    *,
    placements: dict[str, Placement] | None = None,
    workflow_params: dict[str, Any] | None = None,
    container_params: dict[str, Any] | None = None,
    pod_gc: dict[str, Any] | None = None,
    history_limit: int = 3,
) -> dict[str, Any]:
    """A scheduled pipeline (``deploy_pipeline``): one CronWorkflow, concurrency Forbid. With
    a cap on active runs its Workflows are created suspended, to wait in the runner's queue."""
    sched_labels = schedule_labels(settings, spec)
    sched_annotations = schedule_annotations(spec)
    placement = placement_for(placements or {}, spec.pipeline_type)
    deadline = run_deadline(settings, spec.pipeline_type, placement, workflow_params)
    workflow_spec_ = workflow_spec(
        settings,
        container=schedule_container(settings, spec, workflow_run_id()),
        placement=placement,
        pod_labels=sched_labels,
        pod_annotations=sched_annotations,
        workflow_params=workflow_params,
        container_params=container_params,
        active_deadline_seconds=deadline.seconds if deadline else None,
        pod_gc=pod_gc,
    )
    if queues_runs(settings):
        workflow_spec_ = {"suspend": True, **workflow_spec_}
    return {
        "apiVersion": API_VERSION,
        "kind": "CronWorkflow",
        "metadata": {
            "name": schedule_name(spec.pipeline_fqn),
            "namespace": settings.ingestion_namespace,
            "labels": sched_labels,
            "annotations": sched_annotations,
        },
        "spec": {
            "schedules": [spec.schedule],
            "timezone": spec.timezone,
            "concurrencyPolicy": "Forbid",
            "suspend": not spec.enabled,
            "successfulJobsHistoryLimit": history_limit,
            "failedJobsHistoryLimit": history_limit,
            "workflowMetadata": {
                "labels": dict(sched_labels),
                "annotations": {**sched_annotations, **deadline_annotations(deadline)},
            },
            "workflowSpec": workflow_spec_,
        },
    }


@attrs.define(kw_only=True)
class ArgoWorkflows:
    """The ``Workload`` of the argo executor: Workflows and CronWorkflows."""

    name = NAME
    settings: Settings
    placements: dict[str, Placement]
    workflow_params: dict[str, Any] | None
    container_params: dict[str, Any] | None
    pod_gc: dict[str, Any] | None = None
    #: How a kill ends a Workflow: ``Terminate``; ``Stop`` lets exit handlers run.
    shutdown: str = TERMINATE
    workloads: Resource = WORKFLOWS
    schedules: Resource = CRON_WORKFLOWS

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        return workflow_manifest(
            self.settings,
            spec,
            placements=self.placements,
            workflow_params=self.workflow_params,
            container_params=self.container_params,
            pod_gc=self.pod_gc,
        )

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        return cron_workflow_manifest(
            self.settings,
            spec,
            placements=self.placements,
            workflow_params=self.workflow_params,
            container_params=self.container_params,
            pod_gc=self.pod_gc,
        )

    def state(self, obj: dict[str, Any]) -> ObjectState:
        return workflow_state(obj)

    def resume(self, api: ResourceApi, name: str, *, deadline: int | None = None) -> None:
        spec: dict[str, Any] = {"suspend": None}
        if deadline is not None:
            # Argo counts from startedAt, set while it waited suspended: the wait is added.
            spec["activeDeadlineSeconds"] = deadline
        api.patch(self.workloads, name, {"spec": spec})

    def kill(self, api: ResourceApi, name: str, *, queued: bool = False) -> bool:
        if queued:
            # A suspended Workflow never ends on a shutdown; it never started, so it goes.
            api.delete(self.workloads, name, "Background")
            return True
        # A Workflow still suspended (its config Secret not made yet) must resume to end.
        api.patch(self.workloads, name, {"spec": {"shutdown": self.shutdown, "suspend": None}})
        return False

    def end(self, api: ResourceApi, name: str, diagnosis: Diagnosis) -> None:
        body = {
            "metadata": {"annotations": failure_annotations(diagnosis)},
            "spec": {"shutdown": TERMINATE},
        }
        api.patch(self.workloads, name, body)

    def health(self, watch_healthy: bool | None, error: str | None) -> dict[str, str]:
        if watch_healthy is None:
            return {"argo": "not started"}
        if watch_healthy:
            return {"argo": "ok"}
        error = error or "connecting"
        if "not found" in error.lower():
            return {"argo": "CRD workflows.argoproj.io not installed"}
        return {"argo": f"unavailable: {error}"}


def argo_workflows(
    settings: Settings,
    *,
    placements: dict[str, Placement] | None = None,
    workflow_params: dict[str, Any] | None = None,
    container_params: dict[str, Any] | None = None,
    pod_gc: dict[str, Any] | None = None,
    shutdown: str = TERMINATE,
) -> ArgoWorkflows:
    """The argo executor's ``Workload`` from settings (explicit arguments win: tests)."""
    if placements is None:
        placements = parse_pipeline_type_configs(settings.argo_pipeline_type_configs, "argo")
    workflow_params, container_params = spec_files(settings, workflow_params, container_params)
    return ArgoWorkflows(
        settings=settings,
        placements=placements,
        workflow_params=argo_workflow_params(workflow_params),
        container_params=container_params,
        pod_gc=pod_gc,
        shutdown=shutdown,
    )


def from_settings(
    settings: Settings,
    *,
    tuning: Tuning | None = None,
    kube_api: KubeApi | None = None,
    **workload: Any,
) -> KubeExecutor:
    """``EXECUTOR_TYPE=argo``: a ``KubeExecutor`` of ``ArgoWorkflows``. ``kube_api`` stands in for
    the cluster in tests and benches; ``workload``: ``argo_workflows``' options. Variables of
    the other executor are logged as warnings."""
    return assemble(
        argo_workflows(settings, **workload), settings, tuning=tuning, kube_api=kube_api
    )
