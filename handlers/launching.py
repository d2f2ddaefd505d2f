"""What run_pipeline, test_connection and deploy_pipeline share: the operator's boundary (the
image policy, the secret scope), the secret preflight, the secrets-provider settings, the image
(``pod_inputs``); and for the first two the launch or dry-run itself (``launch``), where a
refused run is also reported failed (``ImageNotAllowed``, ``SecretNotAllowed``)."""

from __future__ import annotations

import time
from typing import Any

import attrs

from runtime.api import (
    QUEUED,
    Context,
    ImagePolicy,
    LaunchResult,
    LaunchSpec,
    Refused,
    RunKind,
    resolve_image,
    run_name,
    with_version_validation,
)

DRY_RUN_STATE = "dryRun"


@attrs.frozen(kw_only=True)
class PodInputs:
    """What the ingestion pod gets besides the contract's names: config, image, extra env."""

    config: dict[str, Any]
    image: str
    env: dict[str, str]


def pod_inputs(
    ctx: Context, *, kind: RunKind, config: dict[str, Any], image: str | None
) -> PodInputs:
    """Hold the request to the operator's boundary (the image first, then every ``secret:``
    reference's scope, before any store is asked), preflight the references, set the secrets
    provider and loader (and, with INGESTION_DISABLE_VERSION_VALIDATION,
    ``enableVersionValidation: false``) in the config: the same for a single run and for every
    run of a schedule. Raises ``Refused`` when the boundary does not allow the request."""
    chosen = resolve_image(
        ctx.settings.ingestion_image,
        requested=image,
        dynamic=ctx.settings.dynamic_ingestion_version,
        server_version=ctx.runner.server_version,
    )
    if chosen:  # no image at all fails the launch itself, naming INGESTION_IMAGE
        decision = ImagePolicy.from_settings(ctx.settings).decide(chosen)
        ctx.logger.info("image %s %s", chosen, decision)
        if ctx.dry_run:
            ctx.notes.append(f"image {chosen}: {decision}")
    # Checked on the request as sent: the values stay in the customer's store.
    checked = ctx.secrets.preflight(config)
    if checked:
        ctx.logger.info("secret preflight passed for %d reference(s)", checked)
    if kind == "automation":
        pod_config = ctx.secrets.configure_automation(config)
    else:
        pod_config = ctx.secrets.configure_workflow_config(config)
    pod_config = with_version_validation(
        pod_config, kind, disabled=ctx.settings.ingestion_disable_version_validation
    )
    return PodInputs(config=pod_config, image=chosen, env=ctx.secrets.pod_env())


def launch(
    ctx: Context,
    *,
    kind: RunKind,
    message_type: str,
    run_id: str,
    pipeline_type: str,
    pipeline_fqn: str,
    config: dict[str, Any],
    image: str | None,
) -> LaunchResult:
    """Launch once per run id: a known run id answers with that run's current state."""
    name = run_name(run_id)
    known = ctx.executor.table.get(run_id)
    if known is not None and not ctx.dry_run:
        ctx.logger.info("run %s already known (%s); not launching again", run_id, known.state)
        return LaunchResult(run_id=run_id, run_name=known.run_name, state=known.state)

    # Who the run is, before anything about it is decided.
    run = LaunchSpec(
        run_id=run_id,
        run_name=name,
        kind=kind,
        pipeline_type=pipeline_type,
        pipeline_fqn=pipeline_fqn,
        config={},
        image=image or "",
    )
    try:
        pod = pod_inputs(ctx, kind=kind, config=config, image=image)
    except Refused as exc:
        if not ctx.dry_run:
            # The server hears the run ended too (run_update), like any launch that failed.
            ctx.executor.refuse(run, reason=exc.reason, message=exc.message)
        raise
    spec = attrs.evolve(run, config=pod.config, image=pod.image, env=pod.env)
    started = time.perf_counter()
    if ctx.dry_run:
        ctx.rendered.extend(ctx.executor.render(spec))
        ctx.metrics.executor_response_time.labels("render").observe(time.perf_counter() - started)
        return LaunchResult(run_id=run_id, run_name=name, state=DRY_RUN_STATE)
    try:
        ctx.executor.launch(spec)
    except Exception:
        ctx.metrics.launches.labels(message_type, "failed").inc()
        raise
    finally:
        ctx.metrics.executor_response_time.labels("launch").observe(time.perf_counter() - started)
    ctx.metrics.launches.labels(message_type, "launched").inc()
    ctx.metrics.jobs_created.inc()
    ctx.logger.info("launched %s %s as %s", kind, pipeline_fqn, name)
    # A fresh launch answers "queued"; what happens next arrives as run_update events.
    return LaunchResult(run_id=run_id, run_name=name, state=QUEUED)
