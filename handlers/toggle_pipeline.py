"""toggle_pipeline: suspend (``enabled: false``) or resume a deployed pipeline's schedule.

Runs already started are not touched (``kill`` stops those). A pipeline with no schedule on
this runner is ``not_found``; under ``--dry-run`` the schedule is looked up but not changed.
"""

from __future__ import annotations

from runtime.api import Context, ScheduleResult, TogglePipeline


def handle(msg: TogglePipeline, ctx: Context) -> ScheduleResult:
    ref = ctx.executor.toggle_schedule(msg.pipeline_fqn, msg.enabled, dry_run=ctx.dry_run)
    ctx.logger.info(
        "%s the schedule of %s (%s)",
        "resumed" if ref.enabled else "suspended",
        msg.pipeline_fqn,
        ref.name,
    )
    return ScheduleResult(
        pipeline_fqn=msg.pipeline_fqn, schedule_name=ref.name, enabled=ref.enabled
    )
