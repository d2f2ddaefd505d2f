"""The one object a handler receives besides its message.

Handlers are stateless functions; everything they may touch (settings, executor, secrets,
metrics, logger, clock, what the runner knows about itself) arrives here, typed, so a handler can
be called the same way by the connection, the harness and the tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from runtime.executors.base import Executor
from runtime.observability.metrics import Metrics
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.secrets.service import SecretsService


@attrs.define
class RunnerState:
    """What the runner knows about itself; written by the runtime, read by handlers."""

    agent_id: str
    version: str
    executor: str
    capabilities: list[str] = attrs.field(factory=list)
    started_at: float = attrs.field(factory=time.monotonic)
    connected: bool = False
    server_version: str = ""

    @property
    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_at, 3)


@attrs.frozen(kw_only=True)
class Context:
    settings: Settings
    executor: Executor
    secrets: SecretsService
    metrics: Metrics
    runner: RunnerState
    logger: logging.LoggerAdapter[logging.Logger]
    clock: Callable[[], float] = time.time
    #: Set by ``invoke --dry-run``: launch handlers render manifests instead of creating them.
    dry_run: bool = False
    #: Where dry-run manifests go (the harness prints them).
    rendered: list[dict[str, Any]] = attrs.field(factory=list)
    #: What a dry run decided on the way (the image policy's verdict): printed as comments.
    notes: list[str] = attrs.field(factory=list)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)
