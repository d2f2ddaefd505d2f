"""kill: stop one run, or every active run of a pipeline.

Killing a finished run changes nothing and answers its final state; an unknown run or pipeline
is ``not_found``.
"""

from __future__ import annotations

from runtime.api import Context, InvalidMessage, Kill, NotFound, RunsResult


def handle(msg: Kill, ctx: Context) -> RunsResult:
    if (msg.run_id is None) == (msg.pipeline_fqn is None):
        raise InvalidMessage("kill needs exactly one of runId or pipelineFqn")
    table = ctx.executor.table
    if msg.run_id is not None:
        record = table.get(msg.run_id)
        if record is None:
            raise NotFound(f"run {msg.run_id!r} is not known to this runner")
        targets = [record]
    else:
        assert msg.pipeline_fqn is not None
        targets = table.for_pipeline(msg.pipeline_fqn)
        if not targets:
            raise NotFound(f"pipeline {msg.pipeline_fqn!r} has no runs on this runner")
        targets = [r for r in targets if not r.final]
    for record in targets:
        if not record.final:
            ctx.logger.info("killing run %s (%s)", record.run_id, record.run_name)
            ctx.executor.kill(record.run_id)
    return RunsResult(runs=[(table.get(r.run_id) or r).view() for r in targets])
