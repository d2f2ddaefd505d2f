"""delete_pipeline: remove a pipeline's schedule and its finished runs' Workflows/Jobs.

Active runs are left alone and listed in ``kept`` (``kill`` stops them; their TTL removes them
once finished). A pipeline with neither a schedule nor runs on this runner is ``not_found``;
under ``--dry-run`` the objects are looked up and listed but nothing is deleted.
"""

from __future__ import annotations

from runtime.api import Context, DeletePipeline, DeleteResult


def handle(msg: DeletePipeline, ctx: Context) -> DeleteResult:
    outcome = ctx.executor.delete_pipeline(msg.pipeline_fqn, dry_run=ctx.dry_run)
    ctx.logger.info(
        "deleted pipeline %s: removed %s; kept active %s",
        msg.pipeline_fqn,
        outcome.deleted or "nothing",
        outcome.kept or "none",
    )
    return DeleteResult(pipeline_fqn=msg.pipeline_fqn, deleted=outcome.deleted, kept=outcome.kept)
