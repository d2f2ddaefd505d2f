"""The Kubernetes executor's timings and bounds that are not settings: how long a watch waits,
how fast it backs off, how long a gone run is remembered, how much log is kept, and the clocks.
Production uses the defaults; tests and benches shorten them, in one value instead of a
constructor's keyword arguments."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

from runtime.executors.base import LOG_CHUNK_BYTES
from runtime.executors.kube.diagnostics import Grace


@attrs.frozen(kw_only=True)
class Tuning:
    """See the module docstring; every field has the production value as its default."""

    #: Whether a pod that cannot succeed ends its workload (see ``k8s_runs.reconcile``).
    terminate_on_failure: bool = True
    #: The grace periods; ``None``: from IMAGE_PULL_GRACE_SECONDS / UNSCHEDULABLE_GRACE_SECONDS.
    grace: Grace | None = None
    watch_timeout: int = 300
    resync_seconds: float = 900.0
    watch_backoff: float = 1.0
    watch_max_backoff: float = 8.0
    housekeeping_seconds: float = 5.0
    #: How long a run whose workload is gone stays in the table.
    retain_deleted_seconds: float = 3600.0
    #: How long an object missing from a list may still be in flight before it counts as gone.
    vanish_grace_seconds: float = 30.0
    log_tail_lines: int = 200
    log_tail_bytes: int = 64 * 1024
    max_log_bytes: int = 8 * 1024 * 1024
    log_chunk_bytes: int = LOG_CHUNK_BYTES
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
