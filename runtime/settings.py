"""The runner's configuration, read from the environment in exactly one place.

Every variable is declared once in ``VARIABLES`` (name, parser, default, meaning); ``Settings``
is built from that table, README's configuration table is checked against it, and a bad value
stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from runtime.env_parsers import Parser
from runtime.env_parsers import choice as _choice
from runtime.env_parsers import command as _command
from runtime.env_parsers import csv as _csv
from runtime.env_parsers import extra_envs as _extra_envs
from runtime.env_parsers import int_range as _int_range
from runtime.env_parsers import json_object as _json_object
from runtime.env_parsers import parse_bool as _parse_bool
from runtime.env_parsers import positive_float as _positive_float
from runtime.env_parsers import server_url as _server_url
from runtime.env_parsers import text as _text
from runtime.errors import ConfigError
from runtime.executor_choice import choose_executor

EXECUTOR_TYPES = ("local", "argo", "simpleK8s")
SECRETS_MANAGERS = (
    "kubernetes",
    "managed-aws",
    "aws",
    "managed-azure-kv",
    "azure-kv",
    "gcp",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: Kubernetes refuses a runAsUser / runAsGroup / fsGroup outside 0..2^31-1.
_LINUX_ID = _int_range(0, 2_147_483_647)
#: The ``openmetadata`` user of OpenMetadata's ingestion image (its Dockerfile ends with
#: ``USER openmetadata``, uid and gid 1000).
INGESTION_IMAGE_ID = 1000


def _default_namespace() -> str:
    try:
        return _SA_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


@attrs.frozen
class Variable:
    """One environment variable: where it goes, how it is parsed, what it means."""

    name: str
    field: str
    parse: Parser
    default: Any
    doc: str
    secret: bool = False
    default_doc: str | None = None
    #: A blank value means "none" (``None``) instead of the default.
    blank_is_none: bool = False


VARIABLES: tuple[Variable, ...] = (
    # Connection
    Variable(
        "AGENT_ID",
        "agent_id",
        _text,
        "",
        "Runner's name as registered in the server; "
        "two replicas with one id form an active/standby pair. Required for `run`.",
    ),
    Variable(
        "AUTH_TOKEN",
        "auth_token",
        _text,
        "",
        "Bot JWT sent as `Authorization: Bearer` "
        "on the WebSocket upgrade; never logged. Required for `run`.",
        secret=True,
    ),
    Variable(
        "SERVER_URL",
        "server_url",
        _server_url,
        "",
        "WebSocket URL of the server "
        "(`wss://...`; `https://` is turned into `wss://`). Required for `run`.",
    ),
    Variable(
        "SERVER_HOST_API_URL",
        "server_host_api_url",
        _text,
        "",
        "Server's REST API URL, "
        "given to ingestion pods as the OpenMetadata host port when their config lacks one.",
    ),
    Variable(
        "ALLOW_INSECURE_WS",
        "allow_insecure_ws",
        _parse_bool,
        False,
        "Permit a plain `ws://` SERVER_URL (local development only).",
    ),
    Variable(
        "SERVER_CA_FILE",
        "server_ca_file",
        _text,
        "",
        "PEM bundle of extra CAs to trust "
        "for the server's TLS certificate (verification is always on).",
    ),
    Variable(
        "RECONNECT_DELAY_SECONDS",
        "reconnect_delay",
        _positive_float,
        2.0,
        "First reconnect delay; doubles per failed attempt (with jitter) up to the maximum.",
    ),
    Variable(
        "RECONNECT_MAX_DELAY_SECONDS",
        "reconnect_max_delay",
        _positive_float,
        60.0,
        "Ceiling of the reconnect backoff.",
    ),
    Variable(
        "AUTH_FAILURE_RETRY_SECONDS",
        "auth_failure_retry",
        _positive_float,
        300.0,
        "Pause after the server refused the token (4401) or the agent (4403/4400).",
    ),
    Variable(
        "STANDBY_RETRY_SECONDS",
        "standby_retry",
        _positive_float,
        15.0,
        "Retry pace of a standby replica (the server answered 4409: agent id in use).",
    ),
    Variable(
        "HANDSHAKE_TIMEOUT_SECONDS",
        "handshake_timeout",
        _positive_float,
        15.0,
        "How long to wait for `welcome` after `hello`.",
    ),
    Variable(
        "MAX_FRAME_BYTES",
        "max_frame_bytes",
        _int_range(1024, 64 * 1024 * 1024),
        4_194_304,
        "Largest frame accepted from the server; a larger one closes the connection with 1009.",
    ),
    # Dispatch
    Variable(
        "MAX_CONCURRENT_REQUESTS",
        "max_concurrent_requests",
        _int_range(1, 1024),
        32,
        "Requests handled at once; more wait in line.",
    ),
    Variable(
        "HANDLER_THREADS",
        "handler_threads",
        _int_range(1, 256),
        8,
        "Threads for handlers that call blocking APIs.",
    ),
    Variable(
        "REQUEST_TIMEOUT_SECONDS",
        "request_timeout",
        _positive_float,
        60.0,
        "Per-request time limit; past it the reply is a retryable `timeout` error.",
    ),
    Variable(
        "REPLY_CACHE_SIZE",
        "reply_cache_size",
        _int_range(1, 1_000_000),
        4096,
        "Replies remembered by request id, so a re-sent request repeats no effect.",
    ),
    Variable(
        "SHUTDOWN_GRACE_SECONDS",
        "shutdown_grace",
        _positive_float,
        20.0,
        "On SIGTERM, how long in-flight requests may finish before the runner exits.",
    ),
    # Executor and ingestion pods
    Variable(
        "EXECUTOR_TYPE",
        "executor_type",
        _choice(EXECUTOR_TYPES),
        None,
        "Where runs execute: `argo` (Argo Workflows), `simpleK8s` (Kubernetes Jobs) or "
        "`local` (subprocesses next to the runner). Unset, it is `argo` when any variable of "
        "the Argo mode of Collate's chart is: PIPELINE_SERVICE_CLIENT_ENDPOINT or ARGO_TOKEN "
        "(not empty; their values are not used), ARGO_PIPELINE_TYPE_CONFIGS (even empty).",
        default_doc="`local`, or `argo` (see meaning)",
    ),
    Variable(
        "INGESTION_NAMESPACE",
        "ingestion_namespace",
        _text,
        None,
        "Namespace of ingestion workloads and Kubernetes secrets.",
        default_doc="the runner pod's namespace, else `default`",
    ),
    Variable(
        "INGESTION_IMAGE",
        "ingestion_image",
        _text,
        "",
        "Ingestion image `repository[:tag]`; with dynamic versioning its tag is replaced by "
        "the one derived from the server version. With no tag and none derived, launches fail "
        "naming this variable. A request's `image` wins.",
        default_doc="`docker.getcollate.io/openmetadata/ingestion-base` (OpenMetadata's, no tag)",
    ),
    Variable(
        "DYNAMIC_INGESTION_VERSION_ENABLED",
        "dynamic_ingestion_version",
        _parse_bool,
        True,
        "Derive the ingestion image tag from the server version: `1.13.3` for OpenMetadata's "
        "images, `om-1.13.3-cl-1.13.3` for Collate's (a `collate-*` repository, Collate's ECR, "
        "or an `om-*-cl-*` tag); `false`: INGESTION_IMAGE's own tag.",
    ),
    Variable(
        "INGESTION_DISABLE_VERSION_VALIDATION",
        "ingestion_disable_version_validation",
        _parse_bool,
        False,
        "`true`: every run's OpenMetadata server connection gets `enableVersionValidation: "
        "false`, so the ingestion client runs although its version differs from the server's "
        "(an image pinned with dynamic versioning off); `false`: the config as the server sent "
        "it (the client stops on a version mismatch).",
    ),
    Variable(
        "INGESTION_SERVICE_ACCOUNT_NAME",
        "ingestion_service_account",
        _text,
        "",
        "Service account of ingestion pods (cloud identity for secrets).",
    ),
    Variable(
        "INGESTION_IMAGE_PULL_SECRETS",
        "ingestion_image_pull_secrets",
        _csv,
        (),
        "Comma-separated image pull Secret names for ingestion pods.",
    ),
    Variable(
        "INGESTION_AUTOMOUNT_SA_TOKEN",
        "ingestion_automount_sa_token",
        _parse_bool,
        True,
        "Mount the service account token into ingestion pods (needed for Kubernetes secrets).",
    ),
    Variable(
        "INGESTION_RUN_AS_USER",
        "ingestion_run_as_user",
        _LINUX_ID,
        INGESTION_IMAGE_ID,
        "Numeric `runAsUser` of ingestion pods: the `openmetadata` user of OpenMetadata's "
        "image (the kubelet refuses runAsNonRoot with a named image user); empty: not set "
        "(OpenShift assigns one).",
        blank_is_none=True,
    ),
    Variable(
        "INGESTION_RUN_AS_GROUP",
        "ingestion_run_as_group",
        _LINUX_ID,
        INGESTION_IMAGE_ID,
        "`runAsGroup` of ingestion pods; empty: not set.",
        blank_is_none=True,
    ),
    Variable(
        "INGESTION_FS_GROUP",
        "ingestion_fs_group",
        _LINUX_ID,
        INGESTION_IMAGE_ID,
        "`fsGroup` of ingestion pods (group owning their volumes); empty: not set.",
        blank_is_none=True,
    ),
    Variable(
        "INGESTION_RUN_AS_NON_ROOT",
        "ingestion_run_as_non_root",
        _parse_bool,
        True,
        "`runAsNonRoot` of ingestion pods; `false` with INGESTION_RUN_AS_USER=0 for an old "
        "image that needs root.",
    ),
    Variable(
        "INGESTION_EXTRA_ENVS",
        "ingestion_extra_envs",
        _extra_envs,
        {},
        "Extra env of ingestion pods: `K=V,K2=V2`, `[K:V,K2:V2]` or a JSON object.",
    ),
    Variable(
        "INGESTION_CPU_REQUEST", "ingestion_cpu_request", _text, "", "CPU request of pipeline pods."
    ),
    Variable(
        "INGESTION_CPU_LIMIT", "ingestion_cpu_limit", _text, "", "CPU limit of pipeline pods."
    ),
    Variable(
        "INGESTION_MEMORY_REQUEST",
        "ingestion_memory_request",
        _text,
        "",
        "Memory request of pipeline pods.",
    ),
    Variable(
        "INGESTION_MEMORY_LIMIT",
        "ingestion_memory_limit",
        _text,
        "",
        "Memory limit of pipeline pods.",
    ),
    Variable(
        "INGESTION_AUTOMATION_WORKFLOW_CPU_REQUEST",
        "automation_cpu_request",
        _text,
        "",
        "CPU request of test-connection pods.",
    ),
    Variable(
        "INGESTION_AUTOMATION_WORKFLOW_CPU_LIMIT",
        "automation_cpu_limit",
        _text,
        "",
        "CPU limit of test-connection pods.",
    ),
    Variable(
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_REQUEST",
        "automation_memory_request",
        _text,
        "",
        "Memory request of test-connection pods.",
    ),
    Variable(
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_LIMIT",
        "automation_memory_limit",
        _text,
        "",
        "Memory limit of test-connection pods.",
    ),
    Variable(
        "ARGO_PIPELINE_TYPE_CONFIGS",
        "argo_pipeline_type_configs",
        _json_object,
        {},
        "Per pipeline type scheduling for `argo` (JSON; see the Collate docs).",
    ),
    Variable(
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
        "simplek8s_pipeline_type_configs",
        _json_object,
        {},
        "Per pipeline type scheduling for `simpleK8s` (JSON).",
    ),
    Variable(
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH",
        "argo_workflow_spec_file",
        _text,
        "",
        "YAML/JSON file (customConfig.workflowParams) merged into every Workflow spec; with "
        "`simpleK8s` each key that has a meaning for a Job goes to its Job field, the others "
        "are ignored with a warning naming them.",
    ),
    Variable(
        "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH",
        "argo_container_spec_file",
        _text,
        "",
        "YAML/JSON file (customConfig.containerParams) merged into every ingestion container "
        "(`argo` and `simpleK8s`).",
    ),
    Variable(
        "ARGO_SECONDS_AFTER_COMPLETION_TTL",
        "argo_ttl_seconds",
        _int_range(0, 31_536_000),
        86400,
        "Seconds a finished Workflow or Job is kept before Kubernetes deletes it.",
    ),
    Variable(
        "WATCH_STALL_SECONDS",
        "watch_stall_seconds",
        _int_range(5, 3600),
        90,
        "`argo`/`simpleK8s`: a watch stream silent this long is taken for a dead connection "
        "(a NAT or proxy dropped it) and watched again; the API server sends a bookmark at "
        "least once a minute, so below 60 quiet namespaces re-watch more often.",
    ),
    Variable(
        "PIPELINE_COMMAND",
        "pipeline_command",
        _command,
        ("python", "main.py"),
        "Command of pipeline pods.",
        default_doc="`python main.py`",
    ),
    Variable(
        "AUTOMATION_COMMAND",
        "automation_command",
        _command,
        ("python", "run_automation.py"),
        "Command of test-connection pods.",
        default_doc="`python run_automation.py`",
    ),
    Variable(
        "LOCAL_PIPELINE_COMMAND",
        "local_pipeline_command",
        _command,
        ("python", "main.py"),
        "`local` executor: command line run for pipelines (split shell-style).",
        default_doc="`python main.py`",
    ),
    Variable(
        "LOCAL_AUTOMATION_COMMAND",
        "local_automation_command",
        _command,
        ("python", "run_automation.py"),
        "`local` executor: command line run for test connection.",
        default_doc="`python run_automation.py`",
    ),
    Variable(
        "STATE_DIR",
        "state_dir",
        _text,
        "./.runner-state",
        "`local` executor: run records and logs; survives restarts.",
    ),
    Variable(
        "KILL_GRACE_SECONDS",
        "kill_grace",
        _positive_float,
        10.0,
        "`local` executor: SIGTERM to SIGKILL grace on kill.",
    ),
    # Secrets
    Variable(
        "SECRETS_MANAGER",
        "secrets_manager",
        _choice(SECRETS_MANAGERS),
        "kubernetes",
        "Where `secret:` references live: " + ", ".join(f"`{s}`" for s in SECRETS_MANAGERS) + ".",
    ),
    Variable(
        "SECRETS_PREFLIGHT",
        "secrets_preflight",
        _parse_bool,
        True,
        "Check every `secret:` reference exists before launching.",
    ),
    Variable(
        "SECRETS_PREFLIGHT_TIMEOUT_SECONDS",
        "secrets_preflight_timeout",
        _positive_float,
        10.0,
        "Time limit of one preflight.",
    ),
    Variable(
        "AZURE_KEY_VAULT_NAME",
        "azure_key_vault_name",
        _text,
        "",
        "Key Vault for `managed-azure-kv` / `azure-kv`.",
    ),
    Variable(
        "AWS_DEFAULT_REGION",
        "aws_region",
        _text,
        "",
        "AWS region for `managed-aws` / `aws` (also `AWS_REGION`).",
    ),
    Variable(
        "GOOGLE_CLOUD_PROJECT",
        "gcp_project",
        _text,
        "",
        "GCP project for `gcp` (else from the credentials).",
    ),
    # Observability
    Variable(
        "METRICS_SERVER_HOST",
        "metrics_host",
        _text,
        "0.0.0.0",
        "Address of the metrics and health server.",
    ),
    Variable(
        "METRICS_SERVER_PORT",
        "metrics_port",
        _int_range(0, 65535),
        8989,
        "Port of `/metrics`, `/healthz`, `/readyz`.",
    ),
    Variable("METRICS_SERVER_PATH", "metrics_path", _text, "/metrics", "Path of the metrics."),
    Variable(
        "HEARTBEAT_SECONDS",
        "heartbeat_seconds",
        _positive_float,
        30.0,
        "Heartbeat period until the server's `welcome` sets one.",
    ),
    Variable("LOG_LEVEL", "log_level", _choice(LOG_LEVELS, fold_case=True), "INFO", "Log level."),
    Variable(
        "LOG_FORMAT",
        "log_format",
        _choice(LOG_FORMATS),
        "text",
        "`text` or `json` (one object per line with run and request ids).",
    ),
)


@attrs.frozen(kw_only=True)
class Settings:
    """All configuration; build with ``Settings.from_env()``."""

    agent_id: str
    auth_token: str = attrs.field(repr=False)
    server_url: str
    server_host_api_url: str
    allow_insecure_ws: bool
    server_ca_file: str
    reconnect_delay: float
    reconnect_max_delay: float
    auth_failure_retry: float
    standby_retry: float
    handshake_timeout: float
    max_frame_bytes: int
    max_concurrent_requests: int
    handler_threads: int
    request_timeout: float
    reply_cache_size: int
    shutdown_grace: float
    executor_type: str
    #: Why ``executor_type`` is what it is (EXECUTOR_TYPE, an Argo-mode variable, the default).
    executor_reason: str = "EXECUTOR_TYPE is set"
    ingestion_namespace: str
    ingestion_image: str
    dynamic_ingestion_version: bool
    ingestion_disable_version_validation: bool
    ingestion_service_account: str
    ingestion_image_pull_secrets: tuple[str, ...]
    ingestion_automount_sa_token: bool
    ingestion_run_as_user: int | None
    ingestion_run_as_group: int | None
    ingestion_fs_group: int | None
    ingestion_run_as_non_root: bool
    ingestion_extra_envs: dict[str, str]
    ingestion_cpu_request: str
    ingestion_cpu_limit: str
    ingestion_memory_request: str
    ingestion_memory_limit: str
    automation_cpu_request: str
    automation_cpu_limit: str
    automation_memory_request: str
    automation_memory_limit: str
    argo_pipeline_type_configs: dict[str, Any]
    simplek8s_pipeline_type_configs: dict[str, Any]
    argo_workflow_spec_file: str
    argo_container_spec_file: str
    argo_ttl_seconds: int
    watch_stall_seconds: int
    pipeline_command: tuple[str, ...]
    automation_command: tuple[str, ...]
    local_pipeline_command: tuple[str, ...]
    local_automation_command: tuple[str, ...]
    state_dir: str
    kill_grace: float
    secrets_manager: str
    secrets_preflight: bool
    secrets_preflight_timeout: float
    azure_key_vault_name: str
    aws_region: str
    gcp_project: str
    metrics_host: str
    metrics_port: int
    metrics_path: str
    heartbeat_seconds: float
    log_level: str
    log_format: str

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_server: bool = False
    ) -> Settings:
        """Parse every variable; raise ``ConfigError`` naming the first bad one.

        ``require_server`` is set by ``hybrid-runner run``: the harness and dry runs need no
        server, so only the long-running runner insists on AGENT_ID, AUTH_TOKEN and SERVER_URL.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.name)
            if var.name == "AWS_DEFAULT_REGION" and not raw:
                raw = env.get("AWS_REGION")
            if raw is not None and raw.strip() == "" and var.blank_is_none:
                value = None
            elif raw is None or (raw.strip() == "" and var.parse is not _text):
                value = var.default
            else:
                try:
                    value = var.parse(raw)
                except ValueError as exc:
                    raise ConfigError(var.name, str(exc)) from None
            values[var.field] = value
        if values["reconnect_max_delay"] < values["reconnect_delay"]:
            if env.get("RECONNECT_MAX_DELAY_SECONDS", "").strip():
                raise ConfigError(
                    "RECONNECT_MAX_DELAY_SECONDS",
                    f"must be at least RECONNECT_DELAY_SECONDS ({values['reconnect_delay']:g})",
                )
            # Only the first delay was raised: the ceiling follows it.
            values["reconnect_max_delay"] = values["reconnect_delay"]
        if values["ingestion_namespace"] is None:
            values["ingestion_namespace"] = _default_namespace()
        values["executor_type"], values["executor_reason"] = choose_executor(
            env, values["executor_type"]
        )
        settings = cls(**values)
        settings._check(require_server=require_server)
        return settings

    def _check(self, *, require_server: bool) -> None:
        if not self.metrics_path.startswith("/"):
            raise ConfigError(
                "METRICS_SERVER_PATH", f"must start with '/', got {self.metrics_path!r}"
            )
        if (
            self.secrets_manager in ("managed-azure-kv", "azure-kv")
            and not self.azure_key_vault_name
        ):
            raise ConfigError(
                "AZURE_KEY_VAULT_NAME", f"required when SECRETS_MANAGER={self.secrets_manager}"
            )
        if (
            self.secrets_manager == "kubernetes"
            and self.executor_type != "local"
            and not self.ingestion_automount_sa_token
        ):
            # kubernetes_secrets_manager.py calls load_incluster_config() when the pod says
            # KUBERNETES_IN_CLUSTER=true: without the token every run fails before it starts.
            raise ConfigError(
                "INGESTION_AUTOMOUNT_SA_TOKEN",
                "false contradicts SECRETS_MANAGER=kubernetes: OpenMetadata's Kubernetes secrets "
                "manager reads the ingestion pod's service account token (in-cluster "
                "configuration) as it starts, so every run would fail",
            )
        if self.server_url:
            scheme = urlsplit(self.server_url).scheme
            if scheme in ("ws", "http") and not self.allow_insecure_ws:
                raise ConfigError(
                    "SERVER_URL",
                    "plain ws:// is refused; use wss://, or ALLOW_INSECURE_WS=true for local use",
                )
        if self.ingestion_run_as_non_root and self.ingestion_run_as_user == 0:
            raise ConfigError(
                "INGESTION_RUN_AS_USER",
                "0 (root) contradicts INGESTION_RUN_AS_NON_ROOT=true: the kubelet would refuse "
                "every ingestion pod; for an image that needs root also set "
                "INGESTION_RUN_AS_NON_ROOT=false",
            )
        if self.server_ca_file and not Path(self.server_ca_file).is_file():
            raise ConfigError("SERVER_CA_FILE", f"no such file: {self.server_ca_file}")
        if not require_server:
            return
        for name, value in (
            ("AGENT_ID", self.agent_id),
            ("AUTH_TOKEN", self.auth_token),
            ("SERVER_URL", self.server_url),
        ):
            if not value:
                raise ConfigError(name, "is required to run the runner")

    @property
    def websocket_url(self) -> str:
        """SERVER_URL with an http(s) scheme turned into ws(s)."""
        parts = urlsplit(self.server_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return parts._replace(scheme=scheme).geturl()


def defaults_table() -> str:
    """README's configuration table, generated from ``VARIABLES``."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        if var.default_doc is not None:
            default = var.default_doc
        elif var.default in ("", (), {}, None):
            default = "(empty)"
        elif isinstance(var.default, bool):
            default = f"`{str(var.default).lower()}`"
        else:
            default = f"`{var.default}`"
        rows.append(f"| `{var.name}` | {default} | {var.doc} |")
    return "\n".join(rows)
