"""toggle_pipeline against both Kubernetes executors (on the HTTP fake of the API server) and the
local executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers import toggle_pipeline
from runtime.executors.base import ScheduleSpec
from runtime.executors.naming import schedule_name
from runtime.wire.errors import Conflict, NotFound, Unsupported
from runtime.wire.messages import TogglePipeline
from tests.handlers.support import KINDS, Kube, kube, local_context

FQN = "local_mysql.mysql_metadata_ingestion"


def schedule_of(k: Kube, fqn: str = FQN) -> dict[str, Any]:
    """``fqn``'s schedule, held by the API server under this pipeline's schedule name (for
    another pipeline: a name that collides)."""
    spec = ScheduleSpec(
        pipeline_fqn=fqn,
        pipeline_type="metadata",
        config={},
        image="img:1",
        schedule="0 2 * * *",
    )
    obj = k.stored(k.executor.render_schedule(spec)[0])
    obj["metadata"]["name"] = schedule_name(FQN)
    return k.hold(k.schedules, obj)


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


@pytest.mark.parametrize("enabled", [False, True])
def test_toggle_merge_patches_suspend(k: Kube, enabled: bool) -> None:
    schedule = schedule_of(k)
    result = toggle_pipeline.handle(
        TogglePipeline(id="t", pipeline_fqn=FQN, enabled=enabled), k.ctx
    )
    name = schedule["metadata"]["name"]
    assert (result.pipeline_fqn, result.schedule_name, result.enabled) == (FQN, name, enabled)
    (patch,) = k.server.requests("PATCH")
    assert patch.path == k.path(k.schedules, name)
    assert patch.body == {"spec": {"suspend": not enabled}}
    assert patch.headers["content-type"] == "application/merge-patch+json"
    held = k.held(k.schedules, name)
    assert held is not None and held["spec"]["suspend"] is (not enabled)
    if k.kind == "argo":
        assert patch.path.split("/")[-2] == "cronworkflows"


def test_unknown_pipeline_is_not_found(k: Kube) -> None:
    with pytest.raises(
        NotFound, match=r"pipeline 'local_mysql.mysql_metadata_ingestion' has no schedule"
    ):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), k.ctx)
    assert k.server.requests("PATCH") == []


def test_deleted_between_read_and_patch_is_not_found(k: Kube) -> None:
    schedule = schedule_of(k)
    k.fail("PATCH", k.schedules, schedule["metadata"]["name"], (404, "not found"))
    with pytest.raises(NotFound, match="has no schedule"):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=True), k.ctx)


def test_another_pipelines_schedule_is_not_touched(k: Kube) -> None:
    schedule_of(k, fqn="other.pipeline")
    with pytest.raises(Conflict):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=True), k.ctx)
    assert k.server.requests("PATCH") == []


def test_dry_run_reads_but_does_not_patch(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True)
    schedule_of(dry)
    result = toggle_pipeline.handle(
        TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), dry.ctx
    )
    assert result.enabled is False
    assert len(dry.requests("GET", dry.schedules)) == 1
    assert dry.server.requests("PATCH") == []


def test_local_executor_answers_unsupported(tmp_path: Path) -> None:
    ctx, _ = local_context(tmp_path)
    with pytest.raises(Unsupported, match="EXECUTOR_TYPE=argo"):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), ctx)
