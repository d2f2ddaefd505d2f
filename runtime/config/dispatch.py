"""How requests are handled: concurrency, threads, time limits, the reply cache, shutdown."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import int_range, positive_float
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class DispatchSettings:
    """Request handling."""

    max_concurrent_requests: int = setting(
        "MAX_CONCURRENT_REQUESTS",
        int_range(1, 1024),
        32,
        "Requests handled at once; more wait in line.",
    )
    handler_threads: int = setting(
        "HANDLER_THREADS",
        int_range(1, 256),
        8,
        "Threads for handlers that call blocking APIs.",
    )
    request_timeout: float = setting(
        "REQUEST_TIMEOUT_SECONDS",
        positive_float,
        60.0,
        "Per-request time limit; past it the reply is a retryable `timeout` error.",
    )
    reply_cache_size: int = setting(
        "REPLY_CACHE_SIZE",
        int_range(1, 1_000_000),
        4096,
        "Replies remembered by request id, so a re-sent request repeats no effect.",
    )
    shutdown_grace: float = setting(
        "SHUTDOWN_GRACE_SECONDS",
        positive_float,
        20.0,
        "On SIGTERM, how long in-flight requests may finish before the runner exits.",
    )
