"""deploy_pipeline: create or update a pipeline's schedule (Argo CronWorkflow / CronJob).

Idempotent on the pipeline FQN: the schedule's name is derived from it, so deploying again
updates the same object. Runs the schedule starts get the same pod as ``run_pipeline`` (secret
preflight and secrets-provider settings included, shared through ``handlers.launching``) and
are tracked under their Workflow's/Job's uid, which their pod gets as ``pipelineRunId``. With
``--dry-run`` the manifest is rendered, not sent.
"""

from __future__ import annotations

from handlers.launching import pod_inputs
from runtime.api import (
    Context,
    DeployPipeline,
    InvalidMessage,
    ScheduleResult,
    ScheduleSpec,
    Unsupported,
    check_cron,
    check_timezone,
)

DEFAULT_TIMEZONE = "UTC"


def handle(msg: DeployPipeline, ctx: Context) -> ScheduleResult:
    try:
        schedule = check_cron(msg.schedule)
    except ValueError as exc:
        raise InvalidMessage(f"$.schedule: {exc}") from None
    try:
        timezone = check_timezone(msg.timezone or DEFAULT_TIMEZONE)
    except ValueError as exc:
        raise InvalidMessage(f"$.timezone: {exc}") from None
    if not ctx.executor.supports_schedules:
        # Before the preflight: no secret is checked for something that cannot be deployed.
        raise Unsupported(
            f"the {ctx.executor.name} executor cannot schedule pipelines: use EXECUTOR_TYPE=argo "
            "(CronWorkflow) or EXECUTOR_TYPE=simpleK8s (CronJob)"
        )
    pod = pod_inputs(ctx, kind="pipeline", config=msg.config, image=msg.image)
    spec = ScheduleSpec(
        pipeline_fqn=msg.pipeline_fqn,
        pipeline_type=msg.pipeline_type,
        config=pod.config,
        image=pod.image,
        schedule=schedule,
        timezone=timezone,
        enabled=msg.enabled,
        env=pod.env,
    )
    if ctx.dry_run:
        manifests = ctx.executor.render_schedule(spec)
        ctx.rendered.extend(manifests)
        name = str(manifests[0]["metadata"]["name"])
        return ScheduleResult(
            pipeline_fqn=msg.pipeline_fqn, schedule_name=name, enabled=msg.enabled
        )
    ref = ctx.executor.deploy_schedule(spec)
    ctx.metrics.launches.labels(msg.TYPE, "deployed").inc()
    ctx.logger.info(
        "deployed %s as %s (%s %s, %s)",
        msg.pipeline_fqn,
        ref.name,
        schedule,
        timezone,
        "enabled" if ref.enabled else "suspended",
    )
    return ScheduleResult(
        pipeline_fqn=msg.pipeline_fqn, schedule_name=ref.name, enabled=ref.enabled
    )
