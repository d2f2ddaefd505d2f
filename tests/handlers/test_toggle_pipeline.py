"""toggle_pipeline against both Kubernetes executors (autospec'd APIs) and the local executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers import toggle_pipeline
from runtime.executors.base import ScheduleSpec
from runtime.wire.errors import Conflict, NotFound, Unsupported
from runtime.wire.messages import TogglePipeline
from tests.handlers.support import KINDS, Kube, kube, local_context
from tests.runtime.executors.k8s_support import api_error

FQN = "local_mysql.mysql_metadata_ingestion"


def schedule_of(k: Kube, fqn: str = FQN) -> dict[str, Any]:
    spec = ScheduleSpec(
        pipeline_fqn=fqn,
        pipeline_type="metadata",
        config={},
        image="img:1",
        schedule="0 2 * * *",
    )
    return k.stored(k.executor.render_schedule(spec)[0])


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


@pytest.mark.parametrize("enabled", [False, True])
def test_toggle_merge_patches_suspend(k: Kube, enabled: bool) -> None:
    schedule = schedule_of(k)
    k.read_schedule.return_value = schedule
    result = toggle_pipeline.handle(
        TogglePipeline(id="t", pipeline_fqn=FQN, enabled=enabled), k.ctx
    )
    name = schedule["metadata"]["name"]
    assert (result.pipeline_fqn, result.schedule_name, result.enabled) == (FQN, name, enabled)
    k.patch_schedule.assert_called_once()
    kwargs = k.patch_schedule.call_args.kwargs
    assert kwargs["name"] == name
    assert kwargs["body"] == {"spec": {"suspend": not enabled}}
    assert kwargs["_content_type"] == "application/merge-patch+json"
    if k.kind == "argo":
        assert kwargs["plural"] == "cronworkflows"


def test_unknown_pipeline_is_not_found(k: Kube) -> None:
    k.read_schedule.side_effect = api_error(404, "not found")
    with pytest.raises(
        NotFound, match=r"pipeline 'local_mysql.mysql_metadata_ingestion' has no schedule"
    ):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), k.ctx)
    k.patch_schedule.assert_not_called()


def test_deleted_between_read_and_patch_is_not_found(k: Kube) -> None:
    k.read_schedule.return_value = schedule_of(k)
    k.patch_schedule.side_effect = api_error(404)
    with pytest.raises(NotFound, match="has no schedule"):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=True), k.ctx)


def test_another_pipelines_schedule_is_not_touched(k: Kube) -> None:
    k.read_schedule.return_value = schedule_of(k, fqn="other.pipeline")
    with pytest.raises(Conflict):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=True), k.ctx)
    k.patch_schedule.assert_not_called()


def test_dry_run_reads_but_does_not_patch(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True)
    dry.read_schedule.return_value = schedule_of(dry)
    result = toggle_pipeline.handle(
        TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), dry.ctx
    )
    assert result.enabled is False
    dry.patch_schedule.assert_not_called()


def test_local_executor_answers_unsupported(tmp_path: Path) -> None:
    ctx, _ = local_context(tmp_path)
    with pytest.raises(Unsupported, match="EXECUTOR_TYPE=argo"):
        toggle_pipeline.handle(TogglePipeline(id="t", pipeline_fqn=FQN, enabled=False), ctx)
