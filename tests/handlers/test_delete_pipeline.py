"""delete_pipeline against both Kubernetes executors (autospec'd APIs) and the local executor:
the schedule goes (orphaning its runs), finished runs go, active runs stay and are listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from handlers import delete_pipeline
from runtime.executors.base import ScheduleSpec
from runtime.wire.errors import NotFound, Unsupported
from runtime.wire.messages import DeletePipeline
from tests.handlers.support import (
    KINDS,
    Kube,
    kube,
    listing,
    local_context,
    scheduled_run,
    with_status,
)
from tests.runtime.executors.k8s_support import api_error, make_spec

FQN = "local_mysql.mysql_metadata_ingestion"
MSG = DeletePipeline(id="d", pipeline_fqn=FQN)


def schedule_of(k: Kube) -> dict[str, Any]:
    spec = ScheduleSpec(
        pipeline_fqn=FQN, pipeline_type="metadata", config={}, image="img:1", schedule="0 2 * * *"
    )
    return k.stored(k.executor.render_schedule(spec)[0])


def manual_run(k: Kube, run_id: str, state: str, fqn: str = FQN) -> dict[str, Any]:
    return with_status(k.kind, k.executor.render(make_spec(run_id, fqn=fqn))[0], state)


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


def names(calls: Any) -> list[str]:
    return [c.kwargs["name"] for c in calls]


def test_deletes_schedule_and_finished_runs_and_keeps_active_ones(k: Kube) -> None:
    schedule = schedule_of(k)
    k.read_schedule.return_value = schedule
    ok = scheduled_run(k.kind, schedule, "1714557600", "success")
    failed = manual_run(k, "manual-1", "failed")
    active = scheduled_run(k.kind, schedule, "1714644000", "running")
    queued = manual_run(k, "manual-2", "queued")
    # Same label (a hashed FQN can collide), another pipeline: not ours to delete.
    other = manual_run(k, "other-1", "success", fqn="other.pipeline")
    k.list_runs.return_value = listing([ok, failed, active, queued, other])

    result = delete_pipeline.handle(MSG, k.ctx)

    sched_name = schedule["metadata"]["name"]
    finished = sorted([ok["metadata"]["name"], failed["metadata"]["name"]])
    assert result.pipeline_fqn == FQN
    assert result.deleted == [sched_name, *finished]
    assert result.kept == sorted([active["metadata"]["name"], queued["metadata"]["name"]])
    # The schedule's active run is detached first (the cascade would take it along), then the
    # schedule goes with what it owns, its config Secret included (Orphan would leave it).
    detached = [c.kwargs for c in k.method("patch_namespaced_custom_object", "patch_namespaced_job")
                .call_args_list if c.kwargs["name"] == active["metadata"]["name"]]  # fmt: skip
    assert [d["body"] for d in detached] == [{"metadata": {"ownerReferences": None}}]
    schedule_deletes = [
        c for c in k.delete_schedule.call_args_list if c.kwargs["name"] == sched_name
    ]
    assert len(schedule_deletes) == 1
    assert schedule_deletes[0].kwargs["propagation_policy"] == "Background"
    run_deletes = [c for c in k.delete_run.call_args_list if c.kwargs["name"] != sched_name]
    assert sorted(names(run_deletes)) == finished
    assert {c.kwargs["propagation_policy"] for c in run_deletes} == {"Background"}
    selector = k.list_runs.call_args.kwargs["label_selector"]
    assert "hybrid-runner.io/agent-id=agent-1" in selector
    assert f"hybrid-runner.io/pipeline={FQN}" in selector
    if k.kind == "argo":
        assert {c.kwargs["plural"] for c in schedule_deletes} == {"cronworkflows"}
        assert {c.kwargs["plural"] for c in run_deletes} == {"workflows"}


def test_a_run_the_table_knows_as_failed_is_finished_even_if_its_object_is_not(k: Kube) -> None:
    """A run the runner failed (image pull) whose Workflow/Job is still being ended."""
    k.read_schedule.side_effect = api_error(404)
    obj = manual_run(k, "stuck-1", "running")
    k.executor.tracker.workload_event("ADDED", obj)
    record = k.executor.table.get("stuck-1")
    assert record is not None
    k.executor.table.put(attrs.evolve(record, state="failed", reason="ImagePullBackOff"))
    k.list_runs.return_value = listing([obj])
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([obj["metadata"]["name"]], [])


def test_without_a_schedule_finished_runs_still_go(k: Kube) -> None:
    k.read_schedule.side_effect = api_error(404)
    done = manual_run(k, "manual-1", "success")
    k.list_runs.return_value = listing([done])
    k.delete_run.side_effect = api_error(404)  # its TTL was quicker: still gone
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([done["metadata"]["name"]], [])


def test_nothing_at_all_is_not_found(k: Kube) -> None:
    k.read_schedule.side_effect = api_error(404)
    k.list_runs.return_value = listing([])
    with pytest.raises(NotFound, match="no schedule and no runs"):
        delete_pipeline.handle(MSG, k.ctx)


def test_only_active_runs_answers_with_them_kept(k: Kube) -> None:
    k.read_schedule.side_effect = api_error(404)
    active = manual_run(k, "manual-1", "running")
    k.list_runs.return_value = listing([active])
    result = delete_pipeline.handle(MSG, k.ctx)
    assert (result.deleted, result.kept) == ([], [active["metadata"]["name"]])
    k.delete_run.assert_not_called()


def test_dry_run_lists_but_deletes_nothing(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True)
    schedule = schedule_of(dry)
    dry.read_schedule.return_value = schedule
    done = manual_run(dry, "manual-1", "success")
    dry.list_runs.return_value = listing([done])
    result = delete_pipeline.handle(MSG, dry.ctx)
    assert result.deleted == [schedule["metadata"]["name"], done["metadata"]["name"]]
    dry.delete_schedule.assert_not_called()
    dry.delete_run.assert_not_called()


def test_local_executor_answers_unsupported(tmp_path: Path) -> None:
    ctx, _ = local_context(tmp_path)
    with pytest.raises(Unsupported):
        delete_pipeline.handle(MSG, ctx)


def test_runs_on_every_page_of_the_list_are_deleted(k: Kube) -> None:
    """A pipeline with more runs than one list page (500) holds: the list goes on."""
    k.read_schedule.side_effect = api_error(404)
    first, second = manual_run(k, "manual-1", "success"), manual_run(k, "manual-2", "failed")
    page_one = listing([first])
    page_one["metadata"]["continue"] = "token-2"
    k.list_runs.side_effect = [page_one, listing([second])]
    result = delete_pipeline.handle(MSG, k.ctx)
    assert result.deleted == sorted([first["metadata"]["name"], second["metadata"]["name"]])
    pages = [c.kwargs for c in k.list_runs.call_args_list]
    assert [p.get("_continue") for p in pages] == [None, "token-2"]
    assert all(p["limit"] == 500 and p["_preload_content"] is False for p in pages)
