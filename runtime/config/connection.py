"""The connection to the server: who the runner is, where it connects, how it retries."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import int_range, parse_bool, positive_float, server_url, text
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class ConnectionSettings:
    """The connection to the server."""

    agent_id: str = setting(
        "AGENT_ID",
        text,
        "",
        "Runner's name as registered in the server; "
        "two replicas with one id form an active/standby pair. Required for `run`.",
    )
    auth_token: str = setting(
        "AUTH_TOKEN",
        text,
        "",
        "Bot JWT sent as `Authorization: Bearer` "
        "on the WebSocket upgrade; never logged. Required for `run` (or AUTH_TOKEN_FILE).",
        secret=True,
    )
    auth_token_file: str = setting(
        "AUTH_TOKEN_FILE",
        text,
        "",
        "File holding the bot JWT, read again at every connection attempt (a rotated Secret "
        "is used at the next reconnect, without a restart); wins over AUTH_TOKEN.",
    )
    server_url: str = setting(
        "SERVER_URL",
        server_url,
        "",
        "WebSocket URL of the server "
        "(`wss://...`; `https://` is turned into `wss://`). Required for `run`.",
    )
    server_host_api_url: str = setting(
        "SERVER_HOST_API_URL",
        text,
        "",
        "Server's REST API URL, "
        "given to ingestion pods as the OpenMetadata host port when their config lacks one.",
    )
    allow_insecure_ws: bool = setting(
        "ALLOW_INSECURE_WS",
        parse_bool,
        False,
        "Permit a plain `ws://` SERVER_URL (local development only).",
    )
    server_ca_file: str = setting(
        "SERVER_CA_FILE",
        text,
        "",
        "PEM bundle of extra CAs to trust "
        "for the server's TLS certificate (verification is always on).",
    )
    reconnect_delay: float = setting(
        "RECONNECT_DELAY_SECONDS",
        positive_float,
        2.0,
        "First reconnect delay; doubles per failed attempt (with jitter) up to the maximum.",
    )
    reconnect_max_delay: float = setting(
        "RECONNECT_MAX_DELAY_SECONDS",
        positive_float,
        60.0,
        "Ceiling of the reconnect backoff.",
    )
    auth_failure_retry: float = setting(
        "AUTH_FAILURE_RETRY_SECONDS",
        positive_float,
        300.0,
        "Pause after the server refused the token (4401) or the agent (4403/4400).",
    )
    standby_retry: float = setting(
        "STANDBY_RETRY_SECONDS",
        positive_float,
        15.0,
        "Retry pace of a standby replica (the server answered 4409: agent id in use).",
    )
    connect_timeout: float = setting(
        "CONNECT_TIMEOUT_SECONDS",
        positive_float,
        15.0,
        "How long one attempt may take to connect: TCP, the proxy's answer to its CONNECT "
        "and the TLS handshake.",
    )
    handshake_timeout: float = setting(
        "HANDSHAKE_TIMEOUT_SECONDS",
        positive_float,
        15.0,
        "How long to wait for `welcome` after `hello`.",
    )
    max_frame_bytes: int = setting(
        "MAX_FRAME_BYTES",
        int_range(1024, 64 * 1024 * 1024),
        4_194_304,
        "Largest frame accepted from the server; a larger one closes the connection with 1009.",
    )
