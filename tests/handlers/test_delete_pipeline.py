"""delete_pipeline against both Kubernetes executors (on the HTTP fake of the API server) and the
local executor: the schedule goes (orphaning its runs), finished runs go, active runs stay and
are listed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import attrs
import pytest

from handlers import delete_pipeline
from runtime.executors.base import ScheduleSpec
from runtime.executors.kube.resources import MERGE_PATCH
from runtime.wire.errors import NotFound, Unsupported
from runtime.wire.messages import DeletePipeline
from tests.handlers.support import (
    KINDS,
    Kube,
    kube,
    local_context,
    scheduled_run,
    with_status,
)
from tests.runtime.executors.k8s_support import make_spec
from tests.runtime.kube_api_server import Seen

FQN = "local_mysql.mysql_metadata_ingestion"
MSG = DeletePipeline(id="d", pipeline_fqn=FQN)


def schedule_of(k: Kube) -> dict[str, Any]:
    """This pipeline's schedule, held by the API server."""
    spec = ScheduleSpec(
        pipeline_fqn=FQN, pipeline_type="metadata", config={}, image="img:1", schedule="0 2 * * *"
    )
    return k.hold(k.schedules, k.stored(k.executor.render_schedule(spec)[0]))


def manual_run(k: Kube, run_id: str, state: str, fqn: str = FQN) -> dict[str, Any]:
    return with_status(k.kind, k.executor.render(make_spec(run_id, fqn=fqn))[0], state)


def runs(k: Kube, *objs: dict[str, Any]) -> None:
    """The API server holds ``objs`` (Workflows/Jobs)."""
    for obj in objs:
        k.hold(k.workloads, obj)


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


def names(requests: list[Seen]) -> list[str]:
    return [seen.path.rsplit("/", 1)[-1] for seen in requests]


def test_deletes_schedule_and_finished_runs_and_keeps_active_ones(k: Kube) -> None:
    schedule = schedule_of(k)
    ok = scheduled_run(k.kind, schedule, "1714557600", "success")
    failed = manual_run(k, "manual-1", "failed")
    active = scheduled_run(k.kind, schedule, "1714644000", "running")
    queued = manual_run(k, "manual-2", "queued")
    # Same label (a hashed FQN can collide), another pipeline: not ours to delete.
    other = manual_run(k, "other-1", "success", fqn="other.pipeline")
    runs(k, ok, failed, active, queued, other)

    result = delete_pipeline.handle(MSG, k.ctx)

    sched_name = schedule["metadata"]["name"]
    finished = sorted([ok["metadata"]["name"], failed["metadata"]["name"]])
    assert result.pipeline_fqn == FQN
    assert result.deleted == [sched_name, *finished]
    assert result.kept == sorted([active["metadata"]["name"], queued["metadata"]["name"]])
    # The schedule's active run is detached first (the cascade would take it along), then the
    # schedule goes with what it owns, its config Secret included (Orphan would leave it).
    detached = k.requests("PATCH", k.workloads, active["metadata"]["name"])
    assert [d.body for d in detached] == [{"metadata": {"ownerReferences": None}}]
    assert detached[0].headers["content-type"] == MERGE_PATCH
    still = k.held(k.workloads, active["metadata"]["name"])
    assert still is not None and "ownerReferences" not in still["metadata"]
    schedule_deletes = k.requests("DELETE", k.schedules, sched_name)
    assert len(schedule_deletes) == 1
    assert schedule_deletes[0].query["propagationPolicy"] == "Background"
    assert k.held(k.schedules, sched_name) is None
    run_deletes = k.requests("DELETE", k.workloads)
    assert sorted(names(run_deletes)) == finished
    assert {seen.query["propagationPolicy"] for seen in run_deletes} == {"Background"}
    assert k.held(k.workloads, other["metadata"]["name"]) is not None
    (listed,) = k.server.list_requests(k.path(k.workloads))
    selector = listed.query["labelSelector"]
    assert "hybrid-runner.io/agent-id=agent-1" in selector
    assert f"hybrid-runner.io/pipeline={FQN}" in selector
    # Each delete went to its kind's path: the schedule's (CronWorkflow/CronJob) and the runs'.
    assert len(k.server.requests("DELETE")) == len(schedule_deletes) + len(run_deletes)
    if k.kind == "argo":
        assert {s.path.split("/")[-2] for s in schedule_deletes} == {"cronworkflows"}
        assert {s.path.split("/")[-2] for s in run_deletes} == {"workflows"}


def test_a_run_the_table_knows_as_failed_is_finished_even_if_its_object_is_not(k: Kube) -> None:
    """A run the runner failed (image pull) whose Workflow/Job is still being ended."""
    obj = manual_run(k, "stuck-1", "running")
    k.executor.tracker.workload_event("ADDED", obj)
    record = k.executor.table.get("stuck-1")
    assert record is not None
    k.executor.table.put(attrs.evolve(record, state="failed", reason="ImagePullBackOff"))
    runs(k, obj)  # no schedule: its read answers 404
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([obj["metadata"]["name"]], [])


def test_without_a_schedule_finished_runs_still_go(k: Kube) -> None:
    done = manual_run(k, "manual-1", "success")
    runs(k, done)
    # Its TTL was quicker: still gone.
    k.fail("DELETE", k.workloads, done["metadata"]["name"], (404, "jobs not found"))
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([done["metadata"]["name"]], [])


def test_nothing_at_all_is_not_found(k: Kube) -> None:
    with pytest.raises(NotFound, match="no schedule and no runs"):
        delete_pipeline.handle(MSG, k.ctx)


def test_only_active_runs_answers_with_them_kept(k: Kube) -> None:
    active = manual_run(k, "manual-1", "running")
    runs(k, active)
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([], [active["metadata"]["name"]])
    assert k.server.requests("DELETE") == []


def test_dry_run_lists_but_deletes_nothing(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True)
    schedule = schedule_of(dry)
    done = manual_run(dry, "manual-1", "success")
    runs(dry, done)
    result = delete_pipeline.handle(MSG, dry.ctx)
    assert result.deleted == [schedule["metadata"]["name"], done["metadata"]["name"]]
    assert dry.server.requests("DELETE") == []
    assert dry.held(dry.schedules, schedule["metadata"]["name"]) is not None
    assert dry.held(dry.workloads, done["metadata"]["name"]) is not None


def test_local_executor_answers_unsupported(tmp_path: Path) -> None:
    ctx, _ = local_context(tmp_path)
    with pytest.raises(Unsupported):
        delete_pipeline.handle(MSG, ctx)


def test_runs_on_every_page_of_the_list_are_deleted(k: Kube) -> None:
    """A pipeline with more runs than one list page (500) holds: the list goes on."""
    done = manual_run(k, "manual-1", "success")
    first = [done]
    for i in range(2, 501):  # 500 finished runs: one full page
        obj = copy.deepcopy(done)
        obj["metadata"]["name"] = f"{done['metadata']['name']}-{i:03d}"
        first.append(obj)
    second = manual_run(k, "manual-2", "failed")
    runs(k, *first, second)
    result = delete_pipeline.handle(MSG, k.ctx)
    assert result.deleted == sorted(o["metadata"]["name"] for o in [*first, second])
    pages = [seen.query for seen in k.server.list_requests(k.path(k.workloads))]
    assert [p.get("continue") for p in pages] == [None, "500"]
    assert all(p["limit"] == "500" for p in pages)
