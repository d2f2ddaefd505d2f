"""Pod status -> reason + message, from pod statuses as the API server reports them."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from runtime.executors.kube.diagnostics import DiagnosisTracker, Grace, PodView, diagnose
from tests.runtime.executors.k8s_harness import build
from tests.runtime.executors.k8s_support import FakeClock, make_settings, make_spec

TAINT = (
    "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ingestion}. "
    "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
)


def pod(status: dict[str, Any], *, name: str = "om-run-1-abc") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ingestion",
            "annotations": {"hybrid-runner.io/run-id": "run-1"},
        },
        "spec": {
            "containers": [
                {"name": "main", "image": "img:1", "resources": {"limits": {"memory": "4096Mi"}}}
            ]
        },
        "status": status,
    }


def main_status(state: dict[str, Any], restarts: int = 0, name: str = "main") -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "ready": False,
        "restartCount": restarts,
        "image": "registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        "imageID": "",
    }


UNSCHEDULABLE = pod(
    {
        "phase": "Pending",
        "qosClass": "Guaranteed",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
                "reason": "Unschedulable",
                "message": TAINT,
            }
        ],
    }
)
IMAGE_PULL_BACKOFF = pod(
    {
        "phase": "Pending",
        "startTime": "2024-05-01T10:00:00Z",
        "containerStatuses": [
            main_status(
                {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "registry.example.com/ingestion:nope"',
                    }
                }
            )
        ],
    }
)
ERR_IMAGE_PULL = copy.deepcopy(IMAGE_PULL_BACKOFF)
ERR_IMAGE_PULL["status"]["containerStatuses"][0]["state"]["waiting"] = {
    "reason": "ErrImagePull",
    "message": "rpc error: code = NotFound desc = failed to pull and unpack image "
    '"registry.example.com/ingestion:nope": not found',
}
OOM_KILLED = pod(
    {
        "phase": "Failed",
        "containerStatuses": [
            main_status(
                {
                    "terminated": {
                        "reason": "OOMKilled",
                        "exitCode": 137,
                        "startedAt": "2024-05-01T10:00:05Z",
                        "finishedAt": "2024-05-01T10:03:00Z",
                    }
                }
            )
        ],
    }
)
EVICTED = pod(
    {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory. Threshold quantity: 100Mi, "
        "available: 50Mi. Container main was using 3Gi, request is 1Gi.",
    }
)
CRASH_LOOP = pod(
    {
        "phase": "Running",
        "containerStatuses": [
            main_status(
                {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 5m0s restarting failed container=main",
                    }
                },
                restarts=6,
            )
        ],
    }
)
DEADLINE = pod(
    {
        "phase": "Failed",
        "reason": "DeadlineExceeded",
        "message": "Pod was active on the node longer than the specified deadline",
    }
)
EXIT_1 = pod(
    {
        "phase": "Failed",
        "containerStatuses": [
            main_status(
                {"terminated": {"reason": "Error", "exitCode": 1, "message": "Traceback ..."}}
            )
        ],
    }
)
CONFIG_ERROR = pod(
    {
        "phase": "Pending",
        "containerStatuses": [
            main_status(
                {
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": 'secret "mysql-password" not found',
                    }
                }
            )
        ],
    }
)
ARGO_INIT_PULL = pod(
    {
        "phase": "Pending",
        "initContainerStatuses": [
            main_status(
                {"waiting": {"reason": "ErrImagePull", "message": "quay.io unreachable"}},
                name="init",
            )
        ],
        "containerStatuses": [
            main_status({"waiting": {"reason": "PodInitializing"}}, name="wait"),
            main_status({"waiting": {"reason": "PodInitializing"}}),
        ],
    }
)
PREEMPTED = pod(
    {
        "phase": "Failed",
        "conditions": [
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": "Preempted in order to admit critical pod",
            }
        ],
    }
)
RUNNING = pod(
    {
        "phase": "Running",
        "startTime": "2024-05-01T10:00:00Z",
        "containerStatuses": [main_status({"running": {"startedAt": "2024-05-01T10:00:05Z"}})],
    }
)
SUCCEEDED = pod(
    {
        "phase": "Succeeded",
        "containerStatuses": [main_status({"terminated": {"reason": "Completed", "exitCode": 0}})],
    }
)


@pytest.mark.parametrize(
    ("sample", "reason", "in_message", "fail_after"),
    [
        (UNSCHEDULABLE, "Unschedulable", "untolerated taint {dedicated: ingestion}", 900.0),
        (IMAGE_PULL_BACKOFF, "ImagePullBackOff", "Back-off pulling image", 120.0),
        (ERR_IMAGE_PULL, "ImagePullBackOff", "failed to pull and unpack image", 120.0),
        (ARGO_INIT_PULL, "ImagePullBackOff", "container init: quay.io unreachable", 120.0),
        (OOM_KILLED, "OOMKilled", "memory limit 4096Mi", 0.0),
        (EVICTED, "Evicted", "low on resource: memory", 0.0),
        (CRASH_LOOP, "CrashLoopBackOff", "restarted 6 times", 60.0),
        (DEADLINE, "DeadlineExceeded", "longer than the specified deadline", 0.0),
        (EXIT_1, "Error", "exited with code 1: Traceback", 0.0),
        (CONFIG_ERROR, "CreateContainerConfigError", 'secret "mysql-password" not found', 60.0),
        (PREEMPTED, "Preempted", "Preempted in order to admit critical pod", 0.0),
    ],
)
def test_diagnose_recorded_statuses(
    sample: dict[str, Any], reason: str, in_message: str, fail_after: float | None
) -> None:
    condition = diagnose(PodView.from_pod(sample))
    assert condition is not None
    assert condition.reason == reason
    assert in_message in condition.message
    assert condition.fail_after == fail_after


@pytest.mark.parametrize("sample", [RUNNING, SUCCEEDED])
def test_healthy_pods_have_no_diagnosis(sample: dict[str, Any]) -> None:
    assert diagnose(PodView.from_pod(sample)) is None


def test_deleted_pod_before_finishing_is_pod_deleted_but_not_after_success() -> None:
    assert diagnose(PodView.from_pod(RUNNING, deleted=True)).reason == "PodDeleted"  # type: ignore[union-attr]
    assert diagnose(PodView.from_pod(SUCCEEDED, deleted=True)) is None


def test_pod_view_keeps_what_matters() -> None:
    view = PodView.from_pod(RUNNING)
    assert view.run_id == "run-1"
    assert view.name == "om-run-1-abc"
    assert view.started_ms == 1714557600000
    assert view.main is not None and view.main.waiting_reason is None
    assert not view.finished
    assert PodView.from_pod(OOM_KILLED).memory_limit == "4096Mi"


def test_tracker_applies_image_pull_grace_across_errimagepull_flapping() -> None:
    clock = FakeClock(0.0)
    tracker = DiagnosisTracker(Grace(image_pull_report=15, image_pull=120), clock)
    assert tracker.observe("run-1", PodView.from_pod(ERR_IMAGE_PULL)) is None
    clock.advance(20)
    report = tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    assert report is not None and report.reason == "ImagePullBackOff" and not report.fatal
    clock.advance(60)
    assert not tracker.observe("run-1", PodView.from_pod(ERR_IMAGE_PULL)).fatal  # type: ignore[union-attr]
    clock.advance(45)
    final = tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    assert final is not None and final.fatal
    assert "(for 125s, past IMAGE_PULL_GRACE_SECONDS=120)" in final.message
    assert final.message.endswith("or raise IMAGE_PULL_GRACE_SECONDS")
    assert tracker.waiting() == ["run-1"]


def test_tracker_resets_when_condition_clears() -> None:
    clock = FakeClock(0.0)
    tracker = DiagnosisTracker(Grace(image_pull=120), clock)
    tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    clock.advance(100)
    assert tracker.observe("run-1", PodView.from_pod(RUNNING)) is None
    assert tracker.waiting() == []
    clock.advance(100)
    diagnosis = tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    assert diagnosis is None or not diagnosis.fatal


def test_unschedulable_is_reported_at_once_and_fails_after_its_grace_naming_the_variable() -> None:
    clock = FakeClock(0.0)
    settings = make_settings(UNSCHEDULABLE_GRACE_SECONDS="600")
    tracker = DiagnosisTracker(Grace.from_settings(settings), clock)
    first = tracker.observe("run-1", PodView.from_pod(UNSCHEDULABLE))
    assert first is not None and not first.fatal and first.reason == "Unschedulable"
    assert first.message == TAINT
    clock.advance(599)
    assert not tracker.observe("run-1", PodView.from_pod(UNSCHEDULABLE)).fatal  # type: ignore[union-attr]
    clock.advance(2)
    final = tracker.observe("run-1", PodView.from_pod(UNSCHEDULABLE))
    assert final is not None and final.fatal and final.reason == "Unschedulable"
    assert final.message.startswith(TAINT)
    assert "(for 601s, past UNSCHEDULABLE_GRACE_SECONDS=600)" in final.message
    assert final.message.endswith("or raise UNSCHEDULABLE_GRACE_SECONDS")


def test_unschedulable_waits_for_a_node_as_long_as_it_takes_with_a_grace_of_zero() -> None:
    clock = FakeClock(0.0)
    settings = make_settings(UNSCHEDULABLE_GRACE_SECONDS="0")
    tracker = DiagnosisTracker(Grace.from_settings(settings), clock)
    tracker.observe("run-1", PodView.from_pod(UNSCHEDULABLE))
    clock.advance(86400 * 7)
    assert not tracker.observe("run-1", PodView.from_pod(UNSCHEDULABLE)).fatal  # type: ignore[union-attr]


def test_image_pull_grace_comes_from_its_variable() -> None:
    clock = FakeClock(0.0)
    tracker = DiagnosisTracker(
        Grace.from_settings(make_settings(IMAGE_PULL_GRACE_SECONDS="30")), clock
    )
    tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    clock.advance(31)
    final = tracker.observe("run-1", PodView.from_pod(IMAGE_PULL_BACKOFF))
    assert final is not None and final.fatal
    assert "past IMAGE_PULL_GRACE_SECONDS=30" in final.message


@pytest.mark.parametrize(
    ("labels", "annotations", "key"),
    [
        ({}, {"hybrid-runner.io/pipeline-type": "profiler"}, "the `resources` of profiler"),
        (
            {"hybrid-runner.io/kind": "automation"},
            {"hybrid-runner.io/pipeline-type": "automation"},
            "config.ingestionPods.automationResources.limits.memory",
        ),
        ({}, {}, "config.ingestionPods.resources.limits.memory"),
    ],
)
def test_an_oom_killed_run_says_its_limit_and_the_values_key_that_raises_it(
    labels: dict[str, str], annotations: dict[str, str], key: str
) -> None:
    sample = copy.deepcopy(OOM_KILLED)
    sample["metadata"]["labels"] = labels
    sample["metadata"]["annotations"].update(annotations)
    condition = diagnose(PodView.from_pod(sample))
    assert condition is not None and condition.reason == "OOMKilled"
    assert "(memory limit 4096Mi)" in condition.message
    assert key in condition.message
    assert "config.ingestionPods.additionalPipelineConfigs" in condition.message


def test_terminal_conditions_are_fatal_immediately() -> None:
    tracker = DiagnosisTracker(Grace(), FakeClock(0.0))
    diagnosis = tracker.observe("run-1", PodView.from_pod(OOM_KILLED))
    assert diagnosis is not None and diagnosis.fatal and diagnosis.reason == "OOMKilled"


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_an_unschedulable_pod_fails_its_run_after_the_configured_grace(kind: str) -> None:
    h = build(kind, grace=None, settings_env={"UNSCHEDULABLE_GRACE_SECONDS": "300"})
    spec = make_spec()
    h.launched(spec, "running")
    pending = {
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": TAINT}
        ],
    }
    h.executor.tracker.pod_event("ADDED", h.pod(spec, pending))
    h.mono.advance(299)
    h.executor.tracker.housekeeping()
    assert (h.record().state, h.record().reason) == ("queued", "Unschedulable")
    h.mono.advance(2)
    h.executor.tracker.housekeeping()
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Unschedulable")
    assert "past UNSCHEDULABLE_GRACE_SECONDS=300" in (record.message or "")
    assert h.executor.wait_idle()
    annotations = h.patches(spec.run_name)[-1].body["metadata"]["annotations"]
    assert annotations["hybrid-runner.io/failure-reason"] == "Unschedulable"
    asyncio.run(h.executor.stop())
