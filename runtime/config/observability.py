"""Metrics, health, heartbeats and logs."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import choice, int_range, positive_float, text
from runtime.config.fields import setting

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


@attrs.frozen(kw_only=True, slots=False)
class ObservabilitySettings:
    """Metrics, health and logs."""

    metrics_host: str = setting(
        "METRICS_SERVER_HOST",
        text,
        "0.0.0.0",
        "Address of the metrics and health server.",
    )
    metrics_port: int = setting(
        "METRICS_SERVER_PORT",
        int_range(0, 65535),
        8989,
        "Port of `/metrics`, `/healthz`, `/readyz`.",
    )
    metrics_path: str = setting(
        "METRICS_SERVER_PATH",
        text,
        "/metrics",
        "Path of the metrics.",
    )
    heartbeat_seconds: float = setting(
        "HEARTBEAT_SECONDS",
        positive_float,
        30.0,
        "Heartbeat period until the server's `welcome` sets one.",
    )
    log_level: str = setting(
        "LOG_LEVEL",
        choice(LOG_LEVELS, fold_case=True),
        "INFO",
        "Log level.",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        choice(LOG_FORMATS),
        "text",
        "`text` or `json` (one object per line with run and request ids).",
    )
