"""A run's deadline (runtime/executors/deadlines.py): RUN_TIMEOUT_SECONDS by default, a
pipeline type's activeDeadlineSeconds over it, customConfig's workflowParams over both; written
into the Workflow or Job, and a run past it fails DeadlineExceeded saying the limit and where
to raise it, whichever of the workload or the pod reports it first."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from runtime.executors.deadlines import duration
from runtime.executors.kube import argo
from runtime.executors.kube import jobs as simple_k8s
from runtime.wire.errors import ConfigError
from tests.runtime.executors.k8s_harness import build
from tests.runtime.executors.k8s_support import make_settings, make_spec

SIX_HOURS = (
    "ran longer than its deadline of 6h (RUN_TIMEOUT_SECONDS=21600); raise RUN_TIMEOUT_SECONDS "
    "or the pipeline type's activeDeadlineSeconds"
)


def render(kind: str, spec: Any = None, **env: str) -> dict[str, Any]:
    cls = argo if kind == "argo" else simple_k8s
    workload: dict[str, Any] = cls.from_settings(make_settings(**env)).render(spec or make_spec())[
        0
    ]
    return workload


def deadline_of(workload: dict[str, Any]) -> tuple[int | None, str | None]:
    annotations = workload["metadata"]["annotations"]
    seconds = workload["spec"].get("activeDeadlineSeconds")
    assert str(seconds) == annotations.get("hybrid-runner.io/deadline-seconds", "None")
    return seconds, annotations.get("hybrid-runner.io/deadline-message")


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_every_run_gets_six_hours_unless_told_otherwise(kind: str) -> None:
    assert deadline_of(render(kind)) == (21600, SIX_HOURS)
    assert deadline_of(render(kind, RUN_TIMEOUT_SECONDS="0")) == (None, None)


@pytest.mark.parametrize(
    ("kind", "variable", "entry"),
    [
        ("argo", "ARGO_PIPELINE_TYPE_CONFIGS", {"toleration": "x", "activeDeadlineSeconds": 7200}),
        ("simpleK8s", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS", {"activeDeadlineSeconds": 7200}),
    ],
)
def test_a_pipeline_types_deadline_wins_and_zero_turns_it_off(
    kind: str, variable: str, entry: dict[str, Any]
) -> None:
    configs = {"profiler": entry, "usage": {"activeDeadlineSeconds": 0}}
    env = {variable: json.dumps(configs), "RUN_TIMEOUT_SECONDS": "3600"}
    seconds, message = deadline_of(render(kind, make_spec(pipeline_type="profiler"), **env))
    assert seconds == 7200
    assert message == (
        f"ran longer than its deadline of 2h (activeDeadlineSeconds=7200 of pipeline type "
        f"profiler in {variable}); raise it there"
    )
    assert deadline_of(render(kind, make_spec(pipeline_type="usage"), **env)) == (None, None)
    assert deadline_of(render(kind, make_spec(pipeline_type="lineage"), **env))[0] == 3600


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_customconfigs_workflow_params_win_over_both(kind: str, tmp_path: Any) -> None:
    params = tmp_path / "workflow-params.yaml"
    params.write_text("activeDeadlineSeconds: 5400\n")
    variable = "ARGO_PIPELINE_TYPE_CONFIGS" if kind == "argo" else "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
    env = {
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH": str(params),
        variable: json.dumps({"metadata": {"activeDeadlineSeconds": 60}}),
    }
    seconds, message = deadline_of(render(kind, **env))
    assert seconds == 5400
    assert message is not None and message.startswith(
        "ran longer than its deadline of 1h30m (activeDeadlineSeconds=5400 in customConfig."
    )


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_a_scheduled_runs_deadline_is_in_its_template(kind: str) -> None:
    from runtime.executors.base import ScheduleSpec

    cls = argo if kind == "argo" else simple_k8s
    spec = ScheduleSpec(
        pipeline_fqn="svc.p",
        pipeline_type="metadata",
        config={},
        image="img:1",
        schedule="* * * * *",
    )
    cron = cls.from_settings(make_settings()).render_schedule(spec)[0]
    if kind == "argo":
        template, run_spec = cron["spec"]["workflowMetadata"], cron["spec"]["workflowSpec"]
    else:
        template, run_spec = (
            cron["spec"]["jobTemplate"]["metadata"],
            cron["spec"]["jobTemplate"]["spec"],
        )
    assert template["annotations"]["hybrid-runner.io/deadline-message"] == SIX_HOURS
    assert run_spec["activeDeadlineSeconds"] == 21600
    assert "suspend" not in run_spec, "no cap: scheduled runs start as before"
    capped = cls.from_settings(make_settings(MAX_ACTIVE_RUNS="3")).render_schedule(spec)[0]
    run_spec = (
        capped["spec"]["workflowSpec"] if kind == "argo" else capped["spec"]["jobTemplate"]["spec"]
    )
    assert run_spec["suspend"] is True, "with a cap each scheduled run waits in the queue"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(-1, "a number of seconds"), ("6h", "a number of seconds"), (True, "a number of seconds")],
)
def test_a_bad_deadline_of_a_pipeline_type_stops_start_up(value: Any, fragment: str) -> None:
    configs = json.dumps({"profiler": {"activeDeadlineSeconds": value}})
    with pytest.raises(ConfigError) as caught:
        simple_k8s.from_settings(make_settings(SIMPLEK8S_PIPELINE_TYPE_CONFIGS=configs))
    assert caught.value.variable == "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
    assert "$.profiler.activeDeadlineSeconds" in str(caught.value) and fragment in str(caught.value)


def test_a_job_past_its_deadline_fails_saying_the_limit_and_the_variable() -> None:
    h = build("simpleK8s")
    spec = make_spec()
    h.launched(spec, "running")
    failed = h.workload(spec, "running")
    failed["status"]["conditions"] = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
        }
    ]
    h.executor.tracker.workload_event("MODIFIED", failed)
    record = h.record()
    assert (record.state, record.reason, record.message) == (
        "failed",
        "DeadlineExceeded",
        SIX_HOURS,
    )
    asyncio.run(h.executor.stop())


def test_a_workflow_or_pod_past_its_deadline_says_the_same() -> None:
    h = build("argo")
    spec, other = make_spec(), make_spec("run-0002")
    h.launched(spec, "running")
    failed = h.workload(spec, "failed")
    failed["status"]["message"] = "Step exceeded its deadline"
    h.executor.tracker.workload_event("MODIFIED", failed)
    assert (h.record().reason, h.record().message) == ("DeadlineExceeded", SIX_HOURS)
    # The kubelet's own deadline on the pod (Argo gives it the time left) says it first here.
    h.launched(other, "running")
    pod = h.pod(
        other, {"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active"}
    )
    h.executor.tracker.pod_event("MODIFIED", pod)
    record = h.record(other.run_id)
    assert (record.state, record.reason, record.message) == (
        "failed",
        "DeadlineExceeded",
        SIX_HOURS,
    )
    asyncio.run(h.executor.stop())


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(21600, "6h"), (5400, "1h30m"), (90, "1m30s"), (7261, "2h1m1s"), (5, "5s"), (3600, "1h")],
)
def test_durations_read_as_people_write_them(seconds: int, text: str) -> None:
    assert duration(seconds) == text
