"""``reconcile``: a tracked run and what its workload and pod say -> its record and effects.
Pure: no cluster, no clock, no executor."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from runtime.executors.kube.diagnostics import Diagnosis, PodView
from runtime.executors.kube.runs import (
    CaptureLog,
    EndWorkload,
    ObjectState,
    Reconciled,
    RunMeta,
    TrackedRun,
    reconcile,
)
from runtime.executors.table import RunRecord

NOW = 1_700_000_000_000
META = RunMeta(
    run_id="r1", run_name="om-r1-0000", pipeline_fqn="svc.p", pipeline_type="metadata", kind="k"
)
IMAGE = Diagnosis(reason="ImagePullBackOff", message="cannot pull img", fatal=True)
PENDING = Diagnosis(reason="Unschedulable", message="0/3 nodes", fatal=False)


def tracked(state: str, pod: PodView | None = None, **changes: Any) -> TrackedRun:
    run = TrackedRun(run_id="r1", meta=META, obj=ObjectState(state=state, start_date=5), pod=pod)
    return attrs.evolve(run, **changes)


def run(
    run: TrackedRun,
    old: RunRecord | None = None,
    diagnosis: Diagnosis | None = None,
    *,
    pods_listed: bool = True,
) -> Reconciled:
    result = reconcile(run, old, diagnosis, now_ms=NOW, pods_listed=pods_listed)
    assert result is not None
    return result


def test_a_pod_seen_before_its_workload_waits() -> None:
    pod = PodView(name="p", run_id="r1", phase="Running")
    assert (
        reconcile(TrackedRun(run_id="r1", pod=pod), None, None, now_ms=NOW, pods_listed=True)
        is None
    )
    assert (
        reconcile(TrackedRun(run_id="r1", meta=META), None, None, now_ms=NOW, pods_listed=True)
        is None
    )


@pytest.mark.parametrize(
    ("workload", "pod", "pods_listed", "expected"),
    [
        ("running", PodView(name="p", phase="Pending"), True, "queued"),
        ("queued", PodView(name="p", phase="Running"), True, "running"),
        ("running", None, True, "queued"),  # Argo says Running before the pod is scheduled
        ("running", None, False, "running"),  # no pod list yet: trust the workload
        ("running", PodView(name="p", phase="Pending", deleted=True), True, "running"),
    ],
)
def test_the_pod_refines_the_workload_state(
    workload: str, pod: PodView | None, pods_listed: bool, expected: str
) -> None:
    result = run(tracked(workload, pod), pods_listed=pods_listed)
    assert result.record.state == expected
    assert result.record.end_date is None
    assert result.record.run_name == META.run_name
    assert result.run.pod == pod
    assert result.effects == ()


def test_a_non_fatal_diagnosis_is_the_reason() -> None:
    result = run(tracked("queued"), diagnosis=PENDING)
    assert (result.record.state, result.record.reason) == ("queued", "Unschedulable")


def test_a_fatal_diagnosis_fails_the_run_and_ends_the_workload_once() -> None:
    first = run(tracked("running", PodView(name="p", phase="Pending")), diagnosis=IMAGE)
    assert (first.record.state, first.record.reason) == ("failed", "ImagePullBackOff")
    assert first.record.end_date == NOW
    assert first.effects == (EndWorkload(META.run_name, IMAGE),)
    assert first.run.ended
    again = run(first.run, diagnosis=IMAGE)
    assert again.effects == ()


def test_no_end_when_terminate_on_failure_is_off() -> None:
    result = reconcile(
        tracked("running"),
        None,
        IMAGE,
        now_ms=NOW,
        pods_listed=True,
        terminate_on_failure=False,
    )
    assert result is not None
    assert result.record.state == "failed"
    assert result.effects == ()
    assert not result.run.ended


def test_a_fatal_diagnosis_during_a_kill_is_the_kill() -> None:
    result = run(tracked("running", killing=True), diagnosis=IMAGE)
    assert (result.record.state, result.record.reason) == ("stopped", "Killed")
    assert result.record.message == "stopped by a kill request"
    assert result.effects == ()
    assert not result.run.killing  # final: the kill is over


def test_a_generic_failure_takes_the_pods_diagnosis() -> None:
    obj = ObjectState(state="failed", reason="BackoffLimitExceeded", message="x", end_date=9)
    result = run(attrs.evolve(tracked("failed"), obj=obj), diagnosis=IMAGE)
    assert (result.record.reason, result.record.message) == ("ImagePullBackOff", "cannot pull img")
    assert result.record.end_date == 9
    assert result.effects == ()  # the workload is over already
    specific = attrs.evolve(obj, reason="DeadlineExceeded")
    assert run(attrs.evolve(tracked("failed"), obj=specific), diagnosis=IMAGE).record.reason == (
        "DeadlineExceeded"
    )


def test_a_final_record_keeps_its_state_but_learns_dates_and_the_pod() -> None:
    old = META.record(ObjectState(state="stopped", reason="Killed", message="m"))
    before = attrs.evolve(tracked("success", PodView(name="p", phase="Succeeded", started_ms=3)))
    result = run(attrs.evolve(before, log_tail="bye"), old)
    record = result.record
    assert (record.state, record.reason, record.message) == ("stopped", "Killed", "m")
    assert (record.start_date, record.end_date) == (5, NOW)
    assert (result.run.log_tail, result.run.pod) == ("bye", before.pod)


def test_a_finished_pod_has_its_log_captured_once() -> None:
    pod = PodView(name="p", phase="Succeeded")
    first = run(tracked("running", pod))
    assert first.effects == (CaptureLog("p"),)
    assert first.run.captured == {"p"}
    assert run(first.run).effects == ()
    newer = attrs.evolve(first.run, pod=attrs.evolve(pod, name="p2"))
    assert run(newer).effects == (CaptureLog("p2"),)
    gone = attrs.evolve(first.run, pod=attrs.evolve(pod, name="p3", deleted=True))
    assert run(gone).effects == ()


def test_the_start_date_falls_back_to_the_pods() -> None:
    no_start = attrs.evolve(tracked("running"), obj=ObjectState(state="running"))
    pod = PodView(name="p", phase="Running", started_ms=42)
    assert run(attrs.evolve(no_start, pod=pod)).record.start_date == 42
