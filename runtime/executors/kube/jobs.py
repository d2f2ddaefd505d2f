"""``EXECUTOR_TYPE=simpleK8s``: one ``batch/v1`` Job per run, no Argo needed.

The manifest, built by the pure ``job_manifest``::

    apiVersion: batch/v1
    kind: Job
    metadata: {name: om-<run>-<hash>, namespace, labels, annotations}   # see k8s_pod
    spec:
      suspend: true                         # resumed once its config Secret exists
      backoffLimit: 0                       # an ingestion run is not retried behind the server
      ttlSecondsAfterFinished: ARGO_SECONDS_AFTER_COMPLETION_TTL
      activeDeadlineSeconds: ...            # when configured
      template:
        metadata: {labels, annotations}
        spec:
          restartPolicy: Never
          containers: [main]
          serviceAccountName / automountServiceAccountToken / imagePullSecrets / securityContext
          tolerations / nodeSelector / priorityClassName   # SIMPLEK8S_PIPELINE_TYPE_CONFIGS
    # then customConfig: ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH is deep-merged into the
    # container, and ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH's keys that mean something for a
    # Job into the pod spec / pod metadata / Job spec (see custom_config).

The run's config is in a Secret of the Job's name, owned by the Job
(``config_secret.secret_manifest``): the Job is created suspended, the Secret made with the
Job's uid as owner, then the Job resumed.
Kill deletes the Job with ``propagationPolicy: Foreground`` (its pod goes first); a Job that is
already gone counts as killed. State comes from the Job's conditions (``Complete`` -> success,
``Failed`` -> failed with the condition's reason, e.g. ``DeadlineExceeded``), refined by the
pod's diagnostics.
"""

from __future__ import annotations

from typing import Any

import attrs

from runtime.executors.admission import queues_runs
from runtime.executors.base import LaunchSpec, ScheduleSpec
from runtime.executors.deadlines import Deadline, deadline_annotations, decide
from runtime.executors.kube.client import parse_time_ms
from runtime.executors.kube.custom_config import JobParams, deep_merge, job_params, spec_files
from runtime.executors.kube.diagnostics import Diagnosis
from runtime.executors.kube.executor import KubeExecutor, assemble
from runtime.executors.kube.pod import (
    check_name,
    job_run_id,
    main_container,
    pod_fields,
    run_annotations,
    run_labels,
    schedule_annotations,
    schedule_container,
    schedule_labels,
)
from runtime.executors.kube.resources import ResourceApi
from runtime.executors.kube.runs import ObjectState, annotated_failure, failure_annotations
from runtime.executors.kube.tuning import Tuning
from runtime.executors.naming import schedule_name
from runtime.executors.scheduling import (
    SIMPLEK8S_VARIABLE,
    Placement,
    apply_container_placement,
    parse_pipeline_type_configs,
    placement_for,
)
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import CRON_JOBS, JOBS, Resource
from runtime.settings import Settings
from runtime.wire.messages import FAILED, QUEUED, RUNNING, SUCCESS

NAME = "simpleK8s"
NO_PARAMS = JobParams()


def job_spec(
    settings: Settings,
    *,
    container: dict[str, Any],
    placement: Placement,
    pod_labels: dict[str, str],
    pod_annotations: dict[str, str],
    params: JobParams = NO_PARAMS,
    container_params: dict[str, Any] | None = None,
    active_deadline_seconds: int | None = None,
    backoff_limit: int = 0,
) -> dict[str, Any]:
    """A JobSpec around ``container`` (also a CronJob's ``jobTemplate.spec``); ``params`` and
    ``container_params`` are the customConfig files, merged as in a Workflow. The runner's
    labels and annotations win over the file's ``podMetadata``: they are how it finds its runs.
    """
    container = apply_container_placement(container, placement)
    if container_params:
        container = deep_merge(container, container_params)
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    pod_spec.update(pod_fields(settings))
    pod_spec.update(placement.pod_fields(priority_key="priorityClassName"))
    if params.pod_spec:
        pod_spec = deep_merge(pod_spec, params.pod_spec)
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "ttlSecondsAfterFinished": settings.argo_ttl_seconds,
    }
    if active_deadline_seconds:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    spec.update(params.job_spec)
    metadata: dict[str, Any] = {"labels": dict(pod_labels), "annotations": dict(pod_annotations)}
    if params.pod_metadata:
        metadata = deep_merge(deep_merge(metadata, params.pod_metadata), metadata)
    spec["template"] = {"metadata": metadata, "spec": pod_spec}
    return spec


def job_manifest(
    settings: Settings,
    spec: LaunchSpec,
    *,
    placements: dict[str, Placement] | None = None,
    params: JobParams = NO_PARAMS,
    container_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Job that runs ``spec`` (pure: settings + spec -> manifest)."""
    obj_labels = run_labels(settings, spec)
    obj_annotations = run_annotations(spec)
    placement = placement_for(placements or {}, spec.pipeline_type)
    deadline = run_deadline(settings, spec.pipeline_type, placement, params)
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": check_name(spec.run_name),
            "namespace": settings.ingestion_namespace,
            "labels": obj_labels,
            "annotations": {**obj_annotations, **deadline_annotations(deadline)},
        },
        "spec": job_spec(
            settings,
            container=main_container(settings, spec),
            placement=placement,
            pod_labels=obj_labels,
            pod_annotations=obj_annotations,
            params=params,
            container_params=container_params,
            active_deadline_seconds=deadline.seconds if deadline else None,
        ),
    }
    # No pod before the config Secret exists: KubeExecutor.launch resumes it.
    job["spec"] = {"suspend": True, **job["spec"]}
    return job


def run_deadline(
    settings: Settings, pipeline_type: str, placement: Placement, params: JobParams
) -> Deadline | None:
    """A Job's deadline: customConfig's, the pipeline type's, RUN_TIMEOUT_SECONDS. The Job
    controller counts it from when the Job is resumed: a queued Job's does not run down."""
    return decide(
        settings,
        pipeline_type=pipeline_type,
        of_type=placement.active_deadline_seconds,
        variable=SIMPLEK8S_VARIABLE,
        workflow_params=params.job_spec.get("activeDeadlineSeconds"),
    )


def cron_job_manifest(
    settings: Settings,
    spec: ScheduleSpec,
    *,
    placements: dict[str, Placement] | None = None,
    params: JobParams = NO_PARAMS,
    container_params: dict[str, Any] | None = None,
    history_limit: int = 3,
) -> dict[str, Any]:
    """A scheduled pipeline (``deploy_pipeline``): one CronJob, concurrency Forbid. With a cap
    on active runs its Jobs are created suspended, to wait in the runner's queue."""
    sched_labels = schedule_labels(settings, spec)
    sched_annotations = schedule_annotations(spec)
    placement = placement_for(placements or {}, spec.pipeline_type)
    deadline = run_deadline(settings, spec.pipeline_type, placement, params)
    template_spec = job_spec(
        settings,
        container=schedule_container(settings, spec, job_run_id()),
        placement=placement,
        pod_labels=sched_labels,
        pod_annotations=sched_annotations,
        params=params,
        container_params=container_params,
        active_deadline_seconds=deadline.seconds if deadline else None,
    )
    if queues_runs(settings):
        template_spec = {"suspend": True, **template_spec}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": schedule_name(spec.pipeline_fqn),
            "namespace": settings.ingestion_namespace,
            "labels": sched_labels,
            "annotations": sched_annotations,
        },
        "spec": {
            "schedule": spec.schedule,
            "timeZone": spec.timezone,
            "concurrencyPolicy": "Forbid",
            "suspend": not spec.enabled,
            "successfulJobsHistoryLimit": history_limit,
            "failedJobsHistoryLimit": history_limit,
            "jobTemplate": {
                "metadata": {
                    "labels": dict(sched_labels),
                    "annotations": {**sched_annotations, **deadline_annotations(deadline)},
                },
                "spec": template_spec,
            },
        },
    }


def job_state(obj: dict[str, Any]) -> ObjectState:
    """What a Job says about its run: its conditions first, then its counters."""
    status = obj.get("status") or {}
    start = parse_time_ms(status.get("startTime"))
    true_conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    failure = annotated_failure(obj)
    for kind in ("Complete", "SuccessCriteriaMet"):
        if kind in true_conditions:
            end = parse_time_ms(status.get("completionTime")) or parse_time_ms(
                true_conditions[kind].get("lastTransitionTime")
            )
            return ObjectState(state=SUCCESS, start_date=start, end_date=end)
    for kind in ("Failed", "FailureTarget"):
        if kind in true_conditions:
            cond = true_conditions[kind]
            end = parse_time_ms(cond.get("lastTransitionTime"))
            if failure is not None:
                reason, message = failure
            else:
                reason = str(cond.get("reason") or "Failed")
                message = str(cond.get("message") or f"Job failed ({reason})")
            return ObjectState(
                state=FAILED, reason=reason, message=message, start_date=start, end_date=end
            )
    if failure is not None:
        return ObjectState(state=FAILED, reason=failure[0], message=failure[1], start_date=start)
    if status.get("active"):
        return ObjectState(state=RUNNING, start_date=start)
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    return ObjectState(state=QUEUED, start_date=start, suspended=suspended)


@attrs.define(kw_only=True)
class Jobs:
    """The ``Workload`` of the simpleK8s executor: Jobs and CronJobs."""

    name = NAME
    settings: Settings
    placements: dict[str, Placement]
    params: JobParams
    container_params: dict[str, Any] | None
    workloads: Resource = JOBS
    schedules: Resource = CRON_JOBS

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        return job_manifest(
            self.settings,
            spec,
            placements=self.placements,
            params=self.params,
            container_params=self.container_params,
        )

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        return cron_job_manifest(
            self.settings,
            spec,
            placements=self.placements,
            params=self.params,
            container_params=self.container_params,
        )

    def state(self, obj: dict[str, Any]) -> ObjectState:
        return job_state(obj)

    def resume(self, api: ResourceApi, name: str, *, deadline: int | None = None) -> None:
        # The Job controller starts a Job's deadline when it is resumed: nothing to add.
        api.patch(self.workloads, name, {"spec": {"suspend": False}})

    def kill(self, api: ResourceApi, name: str, *, queued: bool = False) -> bool:
        # Foreground: the pod goes first; a Job already gone counts as killed.
        api.delete(self.workloads, name, "Foreground")
        return True

    def end(self, api: ResourceApi, name: str, diagnosis: Diagnosis) -> None:
        # An already exceeded deadline: the Job controller fails the Job and removes its pod,
        # and the Job stays (until its TTL) with the runner's reason in its annotations.
        body = {
            "metadata": {"annotations": failure_annotations(diagnosis)},
            "spec": {"activeDeadlineSeconds": 1},
        }
        api.patch(self.workloads, name, body)

    def health(self, watch_healthy: bool | None, error: str | None) -> dict[str, str]:
        return {}


def jobs(
    settings: Settings,
    *,
    placements: dict[str, Placement] | None = None,
    workflow_params: dict[str, Any] | None = None,
    container_params: dict[str, Any] | None = None,
) -> Jobs:
    """The simpleK8s executor's ``Workload`` from settings (explicit arguments win: tests)."""
    if placements is None:
        placements = parse_pipeline_type_configs(
            settings.simplek8s_pipeline_type_configs, "simpleK8s"
        )
    # Collate's chart sets the customConfig files in simple mode too (see custom_config).
    workflow_params, container_params = spec_files(settings, workflow_params, container_params)
    # Its warnings are start-up's to log (check_pod_variables returns them), not repeated here.
    params = job_params(workflow_params)
    return Jobs(
        settings=settings,
        placements=placements,
        params=params,
        container_params=container_params,
    )


def from_settings(
    settings: Settings,
    *,
    tuning: Tuning | None = None,
    kube_api: KubeApi | None = None,
    **workload: Any,
) -> KubeExecutor:
    """``EXECUTOR_TYPE=simpleK8s``: a ``KubeExecutor`` of ``Jobs``. ``kube_api`` stands in for the
    cluster in tests and benches; ``workload``: ``jobs``' options. Variables of the other
    executor are logged as warnings."""
    return assemble(jobs(settings, **workload), settings, tuning=tuning, kube_api=kube_api)
