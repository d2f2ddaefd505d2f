"""One tracked run of the Kubernetes executors, and its reconciliation as a pure function.

Everything the executor knows about a run lives in one ``TrackedRun`` (its identity, what its
workload and its pod last said, when they were seen, whether a kill is under way, which
background work was already asked for), in one map keyed by run id, and is forgotten in one
place. ``reconcile`` turns a tracked run, the record the table holds for it and the pod's
diagnosis into the new record and the effects to carry out (end the workload, capture a log
tail): no clock, no lock, no API call, so it is tested without a cluster.

A run's record combines what its workload says (``ObjectState``: phase or Job conditions) with
what its pod shows (``Diagnosis``: Unschedulable, ImagePullBackOff, OOMKilled, ...). Once a
record is final its state, reason and message never change again.
"""

from __future__ import annotations

from typing import Any

import attrs

from runtime.executors.admission import QUEUED_AT_ANNOTATION, WAITING
from runtime.executors.base import LaunchSpec
from runtime.executors.deadlines import DEADLINE_EXCEEDED, Deadline
from runtime.executors.kube.client import get_path, parse_time_ms
from runtime.executors.kube.diagnostics import Diagnosis, PodView
from runtime.executors.kube.pod import (
    KIND_LABEL,
    PIPELINE_FQN_ANNOTATION,
    PIPELINE_TYPE_ANNOTATION,
    PIPELINE_TYPE_LABEL,
    run_id_of,
)
from runtime.executors.table import RunRecord
from runtime.wire.messages import (
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    STOPPED,
    RunIdentity,
    RunStatus,
)

FAILURE_REASON_ANNOTATION = "hybrid-runner.io/failure-reason"
FAILURE_MESSAGE_ANNOTATION = "hybrid-runner.io/failure-message"
KILLED = "Killed"
OOM_KILLED = "OOMKilled"
#: Workload reasons that say less than the pod's own diagnosis.
GENERIC_REASONS = frozenset({"Failed", "Error", "BackoffLimitExceeded", "PodFailed"})


@attrs.frozen(kw_only=True)
class ObjectState(RunStatus):
    """What a Workflow or Job says about its run: a ``RunStatus``, and whether it waits."""

    #: Created suspended and not resumed yet: no pod exists (a run waiting for a slot).
    suspended: bool = False
    #: While suspended, since when (epoch ms) its deadline has been running down anyway: an
    #: Argo Workflow's ``startedAt``, set at creation (a Job's deadline starts at its resume).
    deadline_from: int | None = None


@attrs.frozen(kw_only=True)
class RunMeta(RunIdentity):
    """A run's identity, from the labels and annotations of its workload, and what the queue
    and the deadlines read of it."""

    kind: str
    #: Its place in the queue of waiting runs: (arrival in epoch microseconds, name).
    arrival: tuple[int, str] = (0, "")
    deadline: Deadline | None = None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> RunMeta | None:
        run_id = run_id_of(obj)
        name = get_path(obj, "metadata", "name")
        if not run_id or not name:
            return None
        annotations = get_path(obj, "metadata", "annotations") or {}
        labels = get_path(obj, "metadata", "labels") or {}
        return cls(
            run_id=str(run_id),
            run_name=str(name),
            pipeline_fqn=str(annotations.get(PIPELINE_FQN_ANNOTATION, "")),
            pipeline_type=str(
                annotations.get(PIPELINE_TYPE_ANNOTATION) or labels.get(PIPELINE_TYPE_LABEL, "")
            ),
            kind=str(labels.get(KIND_LABEL, "pipeline")),
            arrival=(arrival_of(obj), str(name)),
            deadline=Deadline.of(obj),
        )

    @classmethod
    def from_spec(cls, spec: LaunchSpec) -> RunMeta:
        return cls(
            run_id=spec.run_id,
            run_name=spec.run_name,
            pipeline_fqn=spec.pipeline_fqn,
            pipeline_type=spec.pipeline_type,
            kind=spec.kind,
        )

    def record(self, state: RunStatus) -> RunRecord:
        """A record of this run in ``state``."""
        return RunRecord.of(self, self.kind, state)


def ended(record: RunRecord, state: str, reason: str, message: str, now_ms: int) -> RunRecord:
    """``record`` made final by the runner (a kill, a deleted workload, a refused launch)."""
    return attrs.evolve(record, state=state, reason=reason, message=message, end_date=now_ms)


def refused_record(spec: LaunchSpec, reason: str, message: str, now_ms: int) -> RunRecord:
    """The record of a run that failed before its workload could run."""
    state = ObjectState(
        state=FAILED, reason=reason, message=message, start_date=now_ms, end_date=now_ms
    )
    return RunMeta.from_spec(spec).record(state)


def arrival_of(obj: dict[str, Any]) -> int:
    """When a workload joined the queue, in epoch microseconds: the runner's annotation on the
    runs it launched, else (a scheduled run) its creation time, which has whole seconds."""
    annotated = get_path(obj, "metadata", "annotations", QUEUED_AT_ANNOTATION)
    try:
        return int(annotated)
    except (TypeError, ValueError):
        created = parse_time_ms(get_path(obj, "metadata", "creationTimestamp"))
        return (created or 0) * 1000


@attrs.frozen(kw_only=True)
class TrackedRun:
    """Everything the executor knows about one run (monotonic times are seconds)."""

    run_id: str
    meta: RunMeta | None = None
    #: What the workload said last; None until the workload is seen.
    obj: ObjectState | None = None
    #: The run's newest pod; None until one is seen.
    pod: PodView | None = None
    seen_at: float | None = None
    pod_seen_at: float | None = None
    #: When the workload went away (or a launch was refused): the run is forgotten later.
    deleted_at: float | None = None
    #: A kill is under way.
    killing: bool = False
    #: A launch is still giving the suspended workload its config Secret: not to be resumed.
    holding: bool = False
    #: The runner resumed the workload (or is about to): it holds a slot, whatever a late
    #: watch event still says.
    resumed: bool = False
    #: The runner has asked to end the workload (a fatal diagnosis).
    ended: bool = False
    #: Pods whose log tail was asked for.
    captured: frozenset[str] = frozenset()
    #: The last lines of ``main``'s log, kept when its pod finished (bounded).
    log_tail: str | None = None


@attrs.frozen
class EndWorkload:
    """End the workload ``name``: its pod cannot succeed."""

    name: str
    diagnosis: Diagnosis


@attrs.frozen
class CaptureLog:
    """Keep the log tail of ``pod_name``, which has finished."""

    pod_name: str


Effect = EndWorkload | CaptureLog


@attrs.frozen
class Reconciled:
    run: TrackedRun
    record: RunRecord
    effects: tuple[Effect, ...] = ()


def _outcome(
    run: TrackedRun,
    obj: ObjectState,
    diagnosis: Diagnosis | None,
    *,
    now_ms: int,
    pods_listed: bool,
    waiting: str | None,
) -> tuple[ObjectState, bool]:
    """The run's state from its workload's and its pod's; True when the diagnosis is fatal."""
    pod = run.pod
    state, reason, message, end = obj.state, obj.reason, obj.message, obj.end_date
    if waiting is not None and not obj.final:
        return ObjectState(state=QUEUED, reason=WAITING, message=waiting), False
    fatal = diagnosis is not None and diagnosis.fatal
    if obj.final:
        generic = reason is None or reason in GENERIC_REASONS
        # Argo names an OOM kill too, but only the pod's diagnosis says how to raise the limit.
        generic = generic or (reason == OOM_KILLED and diagnosis is not None)
        if state == FAILED and diagnosis is not None and fatal and generic:
            reason, message = diagnosis.reason, diagnosis.message
        fatal = False
    elif diagnosis is not None and fatal and run.killing:
        # The pod died of our own kill (e.g. exit 143) before the workload's phase moved.
        state, reason, message = STOPPED, KILLED, "stopped by a kill request"
        end = end or now_ms
        fatal = False
    elif diagnosis is not None and fatal:
        state, reason, message = FAILED, diagnosis.reason, diagnosis.message
        end = end or now_ms
    else:
        if pod is not None and not pod.deleted:
            if pod.phase == "Pending" and state == RUNNING:
                state = QUEUED
            elif pod.phase == "Running" and state == QUEUED:
                state = RUNNING
        elif pod is None and state == RUNNING and pods_listed:
            # Argo marks a Workflow Running (and a Job counts a pod active) before the pod is
            # scheduled: until its pod is seen the run is still queued, else the server would
            # see running -> queued -> running.
            state = QUEUED
        if diagnosis is not None:
            reason, message = diagnosis.reason, diagnosis.message
    deadline = run.meta.deadline if run.meta is not None else None
    if reason == DEADLINE_EXCEEDED and deadline is not None and deadline.message:
        # Whoever says so first (the Job, the Workflow, the pod), the limit and where it is set.
        message = deadline.message
    if state in FINAL_STATES and end is None:
        end = now_ms
    start = obj.start_date or (pod.started_ms if pod is not None else None)
    return ObjectState(
        state=state, reason=reason, message=message, start_date=start, end_date=end
    ), fatal


def reconcile(
    run: TrackedRun,
    old: RunRecord | None,
    diagnosis: Diagnosis | None,
    *,
    now_ms: int,
    pods_listed: bool,
    terminate_on_failure: bool = True,
    waiting: str | None = None,
) -> Reconciled | None:
    """The new record of ``run`` and what to do about it; None while its workload is unseen
    (a pod seen before its workload waits for the workload). ``old`` is the table's record;
    ``waiting``: what a run that ``waits`` for a slot says."""
    meta, obj, pod = run.meta, run.obj, run.pod
    if meta is None or obj is None:
        return None
    outcome, fatal = _outcome(
        run, obj, diagnosis, now_ms=now_ms, pods_listed=pods_listed, waiting=waiting
    )
    if old is not None and old.final:
        new = attrs.evolve(
            old,
            start_date=old.start_date or outcome.start_date,
            end_date=old.end_date or outcome.end_date,
        )
    else:
        if outcome.state not in FINAL_STATES:
            outcome = attrs.evolve(outcome, end_date=None)
        new = meta.record(outcome)
    effects: list[Effect] = []
    if new.final:
        run = attrs.evolve(run, killing=False)
    if fatal and diagnosis is not None and terminate_on_failure and not run.ended:
        run = attrs.evolve(run, ended=True)
        effects.append(EndWorkload(meta.run_name, diagnosis))
    done = pod is not None and not pod.deleted and (pod.finished or pod.main_terminated)
    if pod is not None and done and pod.name not in run.captured:
        run = attrs.evolve(run, captured=run.captured | {pod.name})
        effects.append(CaptureLog(pod.name))
    return Reconciled(run=run, record=new, effects=tuple(effects))


def failure_annotations(diagnosis: Diagnosis) -> dict[str, str]:
    return {
        FAILURE_REASON_ANNOTATION: diagnosis.reason,
        FAILURE_MESSAGE_ANNOTATION: diagnosis.message[:1000],
    }


def annotated_failure(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The failure the runner recorded on the object when it ended it, if any."""
    reason = get_path(obj, "metadata", "annotations", FAILURE_REASON_ANNOTATION)
    if not reason:
        return None
    message = get_path(obj, "metadata", "annotations", FAILURE_MESSAGE_ANNOTATION) or reason
    return str(reason), str(message)
