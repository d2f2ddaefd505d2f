"""run_pipeline: launch one run of an ingestion pipeline (idempotent on runId)."""

from __future__ import annotations

from handlers.launching import launch
from runtime.api import Context, LaunchResult, RunPipeline


def handle(msg: RunPipeline, ctx: Context) -> LaunchResult:
    return launch(
        ctx,
        kind="pipeline",
        message_type=msg.TYPE,
        run_id=msg.run_id,
        pipeline_type=msg.pipeline_type,
        pipeline_fqn=msg.pipeline_fqn,
        config=msg.config,
        image=msg.image,
    )
