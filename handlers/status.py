"""status: run states from the run table, or with no selector the runner's own status.

Async because it only reads memory: no thread hop, no API call, however many runs are tracked.
"""

from __future__ import annotations

from runtime.api import AgentStatus, Context, InvalidMessage, NotFound, RunsResult, Status


async def handle(msg: Status, ctx: Context) -> RunsResult | AgentStatus:
    table = ctx.executor.table
    if msg.run_id is not None and msg.pipeline_fqn is not None:
        raise InvalidMessage("status takes runId or pipelineFqn, not both")
    if msg.run_id is not None:
        record = table.get(msg.run_id)
        if record is None:
            raise NotFound(f"run {msg.run_id!r} is not known to this runner")
        return RunsResult(runs=[record.view()])
    if msg.pipeline_fqn is not None:
        records = sorted(
            table.for_pipeline(msg.pipeline_fqn), key=lambda r: r.start_date or 0, reverse=True
        )
        return RunsResult(runs=[r.view() for r in records])
    runner = ctx.runner
    return AgentStatus(
        agent_id=runner.agent_id,
        version=runner.version,
        executor=runner.executor,
        connected=runner.connected,
        server_version=runner.server_version,
        active_runs=table.active_count,
        queued_runs=table.queued_count,
        tracked_runs=len(table),
        uptime_seconds=runner.uptime_seconds,
        reachability=ctx.executor.health(),
        capabilities=list(runner.capabilities),
    )
