"""Runs a schedule starts are made by the cron controllers, not by the runner: the watch still
tracks them under their Workflow's/Job's uid (the ``pipelineRunId`` their pod gets), with the
object's name as ``runName``, so status, kill, logs and run_update work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers import kill, logs, status
from runtime.executors.base import ScheduleSpec
from runtime.wire.messages import Kill, Logs, Status
from tests.handlers.support import (
    KINDS,
    Kube,
    kube,
    scheduled_pod,
    scheduled_run,
)

FQN = "local_mysql.mysql_metadata_ingestion"


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


def schedule_of(k: Kube) -> dict[str, Any]:
    spec = ScheduleSpec(
        pipeline_fqn=FQN, pipeline_type="profiler", config={}, image="img:1", schedule="0 2 * * *"
    )
    return k.executor.render_schedule(spec)[0]


def test_a_scheduled_run_is_tracked_reported_and_controllable(k: Kube) -> None:
    updates: list[tuple[str, str]] = []
    k.executor.table.subscribe(lambda new, old: updates.append((new.run_id, new.state)))
    run = scheduled_run(k.kind, schedule_of(k), "1714557600", "queued")
    name, uid = run["metadata"]["name"], run["metadata"]["uid"]
    k.executor.tracker.workload_event("ADDED", run)
    k.executor.tracker.pod_event("ADDED", scheduled_pod(k.kind, run, "Running"))

    assert k.executor.table.get(name) is None, "the name is the run's runName, not its id"
    record = k.executor.table.get(uid)
    assert record is not None
    assert (record.run_name, record.pipeline_fqn, record.pipeline_type) == (
        name,
        FQN,
        "profiler",
    )
    assert record.state == "running"  # the pod's phase, seen through its ownerReference
    assert updates == [(uid, "queued"), (uid, "running")]

    by_run = asyncio.run(status.handle(Status(id="s", run_id=uid), k.ctx))
    assert by_run.runs[0].run_id == uid  # type: ignore[union-attr]
    by_pipeline = asyncio.run(status.handle(Status(id="s", pipeline_fqn=FQN), k.ctx))
    assert [r.run_id for r in by_pipeline.runs] == [uid]  # type: ignore[union-attr]

    k.pod_log(name + "-pod", "scheduled output\n")
    chunk = logs.handle(Logs(id="l", run_id=uid), k.ctx)
    assert chunk.content == "scheduled output\n"
    assert k.server.log_reads()[-1].path.endswith(f"/pods/{name}-pod/log")

    k.hold(k.workloads, run)  # the API server holds the run's Workflow/Job
    killed = kill.handle(Kill(id="k", run_id=uid), k.ctx)
    if k.kind == "argo":
        patch = k.requests("PATCH", k.workloads)[-1]
        assert (patch.path, patch.path.split("/")[-2], patch.body) == (
            k.path(k.workloads, name),
            "workflows",
            {"spec": {"shutdown": "Terminate", "suspend": None}},
        )
    else:
        assert k.requests("DELETE", k.workloads)[-1].path == k.path(k.workloads, name)
        assert killed.runs[0].state == "stopped"


def test_scheduled_runs_are_readopted_from_a_list(k: Kube) -> None:
    schedule = schedule_of(k)
    done = scheduled_run(k.kind, schedule, "1714557600", "success")
    failed = scheduled_run(k.kind, schedule, "1714644000", "failed")
    k.executor.tracker.sync_pods([scheduled_pod(k.kind, failed, "Failed")])
    k.executor.tracker.sync_workloads([done, failed])
    states = {r.run_id: r.state for r in k.executor.table.for_pipeline(FQN)}
    assert states == {done["metadata"]["uid"]: "success", failed["metadata"]["uid"]: "failed"}


def test_objects_without_run_id_or_schedule_are_still_ignored(k: Kube) -> None:
    stray = scheduled_run(k.kind, schedule_of(k), "1", "running")
    del stray["metadata"]["annotations"]["hybrid-runner.io/schedule"]
    k.executor.tracker.workload_event("ADDED", stray)
    assert len(k.executor.table) == 0
