"""Why an ingestion pod is not doing what it should: pod status -> reason + message.

The server learns about pods that never start only from the runner, so pod conditions become
machine-readable reasons (the ``reason`` of ``run_update`` and of status replies) with a human
message taken from Kubernetes itself, e.g. the scheduler's ``0/3 nodes are available: 3 node(s)
had untolerated taint {dedicated: ingestion}``.

``diagnose`` is a pure function of one pod (as the API server's JSON dict) returning a
``Condition``: what is wrong, when it is worth reporting and when it means the run has failed.
Some conditions are transient (an image pull that the registry answers on the second try, a
scheduling wait that the cluster autoscaler ends), so each condition has a grace period;
``DiagnosisTracker`` remembers since when a run's pod has shown a condition and turns it into a
``Diagnosis`` only once it has lasted long enough.

========================  ==========================================  ======================
reason                    seen as                                     the run
========================  ==========================================  ======================
Unschedulable             PodScheduled=False/Unschedulable            queued (reported), failed
                                                                      after UNSCHEDULABLE_GRACE
ImagePullBackOff          a container waiting in ErrImagePull or      failed after
                          ImagePullBackOff                            IMAGE_PULL_GRACE_SECONDS
InvalidImageName          a container waiting on a malformed image    failed
CreateContainerConfigError  missing Secret/ConfigMap, bad user, ...   failed after grace
CrashLoopBackOff          a container restarting over and over        failed after grace
OOMKilled                 ``main`` terminated with reason OOMKilled   failed
Evicted / Preempted       pod Failed by eviction or preemption        failed
DeadlineExceeded          pod Failed past activeDeadlineSeconds       failed
Error                     ``main`` exited non-zero                    failed
PodDeleted                the pod vanished before it finished         failed after grace
========================  ==========================================  ======================

A run that fails because a grace ran out says so, naming the variable that sets it
(``UNSCHEDULABLE_GRACE_SECONDS``, ``IMAGE_PULL_GRACE_SECONDS``); an ``OOMKilled`` run names the
container's memory limit and the values key that raises it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from runtime.config.capacity import CapacitySettings
from runtime.executors.kube.client import get_path, parse_time_ms
from runtime.executors.kube.pod import (
    KIND_LABEL,
    MAIN_CONTAINER,
    PIPELINE_TYPE_ANNOTATION,
    run_id_of,
)

IMAGE_PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
IMAGE_FATAL_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull"})
CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
_DISRUPTION_REASONS = {
    "PreemptionByScheduler": "Preempted",
    "PreemptionByKubeScheduler": "Preempted",
    "EvictionByEvictionAPI": "Evicted",
    "TerminationByKubelet": "Evicted",
    "DeletionByTaintManager": "Evicted",
    "DeletionByPodGC": "PodDeleted",
}


@attrs.frozen(kw_only=True)
class Grace:
    """Seconds a transient condition must last before it is reported / fails the run."""

    image_pull_report: float = 15.0
    #: IMAGE_PULL_GRACE_SECONDS.
    image_pull: float = 120.0
    crash_loop: float = 60.0
    config_error: float = 60.0
    unschedulable: float = 0.0
    #: A deleted pod is judged after this long: when someone deletes the Job or Workflow, its
    #: pods go too, and the workload's own DELETED event (on another watch) may come second.
    pod_deleted: float = 5.0
    #: UNSCHEDULABLE_GRACE_SECONDS; ``None``: an unschedulable pod waits for capacity for as
    #: long as it takes.
    unschedulable_fail: float | None = 900.0

    @classmethod
    def from_settings(cls, settings: CapacitySettings) -> Grace:
        return cls(
            image_pull=float(settings.image_pull_grace),
            unschedulable_fail=float(settings.unschedulable_grace) or None,
        )


@attrs.frozen(kw_only=True)
class ContainerView:
    name: str
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    terminated_message: str | None = None
    exit_code: int | None = None
    restart_count: int = 0

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> ContainerView:
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        return cls(
            name=str(status.get("name", "")),
            waiting_reason=waiting.get("reason"),
            waiting_message=waiting.get("message"),
            terminated_reason=terminated.get("reason"),
            terminated_message=terminated.get("message"),
            exit_code=terminated.get("exitCode"),
            restart_count=int(status.get("restartCount") or 0),
        )


@attrs.frozen(kw_only=True)
class PodView:
    """What the runner keeps of one pod: small, so thousands of runs cost little memory."""

    name: str
    run_id: str | None = None
    phase: str = "Pending"
    reason: str | None = None
    message: str | None = None
    unschedulable: str | None = None
    disruption: str | None = None
    disruption_message: str | None = None
    containers: tuple[ContainerView, ...] = ()
    memory_limit: str | None = None
    deleted: bool = False
    started_ms: int | None = None
    #: ``pipeline`` or ``automation``, and the pipeline type: where a memory limit comes from.
    kind: str = "pipeline"
    pipeline_type: str = ""

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any], *, deleted: bool = False) -> PodView:
        status = pod.get("status") or {}
        unschedulable = None
        disruption = None
        disruption_message = None
        for cond in status.get("conditions") or []:
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                unschedulable = cond.get("message") or "the scheduler found no node for the pod"
            if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
                disruption = cond.get("reason") or "Disrupted"
                disruption_message = cond.get("message")
        statuses = list(status.get("initContainerStatuses") or []) + list(
            status.get("containerStatuses") or []
        )
        memory_limit = None
        for container in get_path(pod, "spec", "containers") or []:
            if container.get("name") == MAIN_CONTAINER:
                memory_limit = get_path(container, "resources", "limits", "memory")
        return cls(
            name=str(get_path(pod, "metadata", "name") or ""),
            run_id=run_id_of(pod, pod=True),
            phase=str(status.get("phase") or "Pending"),
            reason=status.get("reason"),
            message=status.get("message"),
            unschedulable=unschedulable,
            disruption=disruption,
            disruption_message=disruption_message,
            containers=tuple(ContainerView.from_status(s) for s in statuses),
            memory_limit=str(memory_limit) if memory_limit is not None else None,
            deleted=deleted,
            started_ms=parse_time_ms(status.get("startTime")),
            kind=str(get_path(pod, "metadata", "labels", KIND_LABEL) or "pipeline"),
            pipeline_type=str(
                get_path(pod, "metadata", "annotations", PIPELINE_TYPE_ANNOTATION) or ""
            ),
        )

    @property
    def main(self) -> ContainerView | None:
        for container in self.containers:
            if container.name == MAIN_CONTAINER:
                return container
        return None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def main_terminated(self) -> bool:
        main = self.main
        return main is not None and main.terminated_reason is not None


@attrs.frozen(kw_only=True)
class Condition:
    """Something wrong with a pod; ``key`` identifies it for grace bookkeeping."""

    key: str
    reason: str
    message: str
    #: Seconds it must persist before it is worth reporting at all.
    report_after: float = 0.0
    #: Seconds it must persist before the run counts as failed; None = never.
    fail_after: float | None = 0.0
    #: The variable that sets ``fail_after`` and what to do, said when it runs out.
    variable: str | None = None
    hint: str = ""


@attrs.frozen(kw_only=True)
class Diagnosis:
    """A condition that has lasted long enough to be reported."""

    reason: str
    message: str
    fatal: bool


def diagnose(pod: PodView, grace: Grace = Grace()) -> Condition | None:
    """The most telling condition of ``pod``, or None when nothing is wrong."""
    main = pod.main
    if pod.phase == "Failed":
        return _failed(pod, main)
    if pod.phase == "Succeeded":
        return None
    if main is not None and main.terminated_reason == "OOMKilled":
        return _oom(pod, main)
    if pod.deleted:
        return Condition(
            key="PodDeleted",
            reason="PodDeleted",
            message=f"pod {pod.name} was deleted before the run finished",
            report_after=grace.pod_deleted,
            fail_after=grace.pod_deleted,
        )
    for container in pod.containers:
        reason = container.waiting_reason
        if reason is None:
            continue
        detail = f"container {container.name}: {container.waiting_message or reason}"
        if reason in IMAGE_FATAL_WAITING:
            return Condition(key=reason, reason=reason, message=detail)
        if reason in IMAGE_PULL_WAITING:
            # ErrImagePull and ImagePullBackOff alternate: one key, so the clock keeps running.
            return Condition(
                key="ImagePullBackOff",
                reason="ImagePullBackOff",
                message=detail,
                report_after=grace.image_pull_report,
                fail_after=grace.image_pull,
                variable="IMAGE_PULL_GRACE_SECONDS",
                hint="check the image and its pull secrets (INGESTION_IMAGE_PULL_SECRETS)",
            )
        if reason in CONFIG_WAITING:
            return Condition(
                key=reason, reason=reason, message=detail, fail_after=grace.config_error
            )
        if reason == "CrashLoopBackOff":
            return Condition(
                key=reason,
                reason=reason,
                message=f"{detail} (restarted {container.restart_count} times)",
                fail_after=grace.crash_loop,
            )
    if pod.unschedulable is not None:
        return Condition(
            key="Unschedulable",
            reason="Unschedulable",
            message=pod.unschedulable,
            report_after=grace.unschedulable,
            fail_after=grace.unschedulable_fail,
            variable="UNSCHEDULABLE_GRACE_SECONDS",
            hint="give it a node it fits on (capacity, tolerations, node selector)",
        )
    return None


def _failed(pod: PodView, main: ContainerView | None) -> Condition:
    if pod.reason == "Evicted":
        return Condition(key="Evicted", reason="Evicted", message=pod.message or "pod evicted")
    if pod.reason == "DeadlineExceeded":
        return Condition(
            key="DeadlineExceeded",
            reason="DeadlineExceeded",
            message=pod.message or "the pod ran past its activeDeadlineSeconds",
        )
    if main is not None and main.terminated_reason == "OOMKilled":
        return _oom(pod, main)
    if pod.disruption is not None:
        reason = _DISRUPTION_REASONS.get(pod.disruption, "Evicted")
        return Condition(
            key=reason,
            reason=reason,
            message=pod.message or pod.disruption_message or f"pod disrupted ({pod.disruption})",
        )
    if main is not None and main.exit_code not in (None, 0):
        detail = f"container {MAIN_CONTAINER} exited with code {main.exit_code}"
        if main.terminated_message:
            detail = f"{detail}: {main.terminated_message.strip()[:500]}"
        return Condition(key="Error", reason="Error", message=detail)
    if pod.reason:
        return Condition(key=pod.reason, reason=pod.reason, message=pod.message or pod.reason)
    return Condition(key="PodFailed", reason="PodFailed", message=pod.message or "pod failed")


def _oom(pod: PodView, main: ContainerView) -> Condition:
    limit = f" (memory limit {pod.memory_limit})" if pod.memory_limit else ""
    code = main.exit_code if main.exit_code is not None else 137
    return Condition(
        key="OOMKilled",
        reason="OOMKilled",
        message=f"container {MAIN_CONTAINER} was killed for running out of memory{limit}; "
        f"exit code {code}; raise {_memory_keys(pod)}",
    )


def _memory_keys(pod: PodView) -> str:
    """Where the chart's values set the memory limit of ``pod``'s kind of run."""
    if pod.kind == "automation":
        common = "config.ingestionPods.automationResources.limits.memory"
    else:
        common = "config.ingestionPods.resources.limits.memory"
    of_type = f" of {pod.pipeline_type}" if pod.pipeline_type else ""
    return (
        f"{common}, or the `resources`{of_type} in config.ingestionPods.additionalPipelineConfigs"
    )


class DiagnosisTracker:
    """Remembers since when each run's pod shows its current condition (thread-safe)."""

    def __init__(self, grace: Grace = Grace(), clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self._since: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def observe(self, run_id: str, pod: PodView | None) -> Diagnosis | None:
        """The diagnosis of ``run_id`` now, given its latest pod (None: no pod seen)."""
        condition = diagnose(pod, self.grace) if pod is not None else None
        now = self._clock()
        with self._lock:
            if condition is None:
                self._since.pop(run_id, None)
                return None
            previous = self._since.get(run_id)
            if previous is None or previous[0] != condition.key:
                self._since[run_id] = (condition.key, now)
                since = now
            else:
                since = previous[1]
        lasted = now - since
        if condition.fail_after is not None and lasted >= condition.fail_after:
            return Diagnosis(
                reason=condition.reason, message=_ran_out(condition, lasted), fatal=True
            )
        if lasted >= condition.report_after:
            return Diagnosis(reason=condition.reason, message=condition.message, fatal=False)
        return None

    def waiting(self) -> list[str]:
        """Runs with a condition whose grace may run out: re-observe them periodically."""
        with self._lock:
            return list(self._since)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._since.pop(run_id, None)


def _ran_out(condition: Condition, lasted: float) -> str:
    """The message of a condition whose grace ran out: how long, and the variable to raise."""
    if not condition.fail_after:
        return condition.message
    if condition.variable is None:
        return f"{condition.message} (for {int(lasted)}s)"
    return (
        f"{condition.message} (for {int(lasted)}s, past {condition.variable}="
        f"{condition.fail_after:g}); {condition.hint}, or raise {condition.variable}"
    )
