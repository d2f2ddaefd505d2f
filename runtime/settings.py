"""The runner's configuration, read from the environment in exactly one place.

Every variable is declared once, as a field of one of the groups in ``runtime.config`` (its
environment name, parser, default and meaning in the field's metadata). ``Settings`` is the
union of the groups, ``VARIABLES`` lists them in README's order, README's configuration table is
generated from them, and a bad value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from runtime.config.backends import EXECUTOR_TYPES as _EXECUTOR_TYPES
from runtime.config.backends import SECRETS_MANAGERS as _SECRETS_MANAGERS
from runtime.config.backends import runs_pods
from runtime.config.capacity import CapacitySettings
from runtime.config.connection import ConnectionSettings
from runtime.config.dispatch import DispatchSettings
from runtime.config.env_parsers import text
from runtime.config.executor_choice import choose_executor
from runtime.config.fields import Variable, variables_of
from runtime.config.local import LocalExecutorSettings
from runtime.config.no_proxy import NoProxy
from runtime.config.observability import LOG_FORMATS, LOG_LEVELS, ObservabilitySettings
from runtime.config.pods import INGESTION_IMAGE_ID, IngestionPodSettings
from runtime.config.policy import PolicySettings
from runtime.config.proxy import ProxySettings
from runtime.config.secrets import SecretsSettings
from runtime.config.workloads import KubernetesExecutorSettings
from runtime.egress import proxy
from runtime.wire.errors import ConfigError

__all__ = [
    "EXECUTOR_TYPES",
    "INGESTION_IMAGE_ID",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SECRETS_MANAGERS",
    "VARIABLES",
    "Settings",
    "Variable",
    "defaults_table",
]

#: The declared backends' names (``runtime.config.backends``), as they were at import.
EXECUTOR_TYPES = tuple(_EXECUTOR_TYPES)
SECRETS_MANAGERS = tuple(_SECRETS_MANAGERS)
_SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: The groups, in README's order (each lists its variables in declaration order).
GROUPS: tuple[type[Any], ...] = (
    ConnectionSettings,
    ProxySettings,
    DispatchSettings,
    IngestionPodSettings,
    PolicySettings,
    CapacitySettings,
    KubernetesExecutorSettings,
    LocalExecutorSettings,
    SecretsSettings,
    ObservabilitySettings,
)
VARIABLES: tuple[Variable, ...] = tuple(var for group in GROUPS for var in variables_of(group))


def _default_namespace() -> str:
    try:
        return _SA_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


def _service_host(env: Mapping[str, str]) -> str:
    """KUBERNETES_SERVICE_HOST (Kubernetes sets it in every pod): the API server, always
    reached directly, so it must read as a NO_PROXY entry."""
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    try:
        NoProxy.parse([host])
    except ValueError as exc:
        raise ConfigError("KUBERNETES_SERVICE_HOST", str(exc)) from None
    return host


def _read(var: Variable, env: Mapping[str, str]) -> Any:
    # The spelling read is the one a bad value is reported under.
    source = var.alias or var.name
    raw = env.get(source)
    if raw is None or not raw.strip():
        source, raw = var.name, env.get(var.name)
    if var.fallback is not None and not raw:
        raw = env.get(var.fallback)
    if raw is not None and raw.strip() == "" and var.blank_is_none:
        return None
    if raw is None or (raw.strip() == "" and var.parse is not text):
        return var.default
    try:
        return var.parse(raw)
    except ValueError as exc:
        raise ConfigError(source, str(exc)) from None


@attrs.frozen(kw_only=True)
class Settings(
    ObservabilitySettings,
    SecretsSettings,
    LocalExecutorSettings,
    KubernetesExecutorSettings,
    CapacitySettings,
    PolicySettings,
    IngestionPodSettings,
    DispatchSettings,
    ProxySettings,
    ConnectionSettings,
):
    """All configuration (every group's fields, flat); build with ``Settings.from_env()``.

    The groups are listed last first: attrs collects fields from the base furthest in the MRO,
    so the fields keep the order of ``GROUPS`` (the attribute names are the groups' own)."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_server: bool = False
    ) -> Settings:
        """Parse every variable; raise ``ConfigError`` naming the first bad one.

        ``require_server`` is set by ``hybrid-runner run``: the harness and dry runs need no
        server, so only the long-running runner insists on AGENT_ID, AUTH_TOKEN and SERVER_URL.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {var.field: _read(var, env) for var in VARIABLES}
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
        values["kubernetes_service_host"] = _service_host(env)
        settings = cls(**values)
        settings._check(require_server=require_server)
        return settings

    def _check(self, *, require_server: bool) -> None:
        if not self.metrics_path.startswith("/"):
            raise ConfigError(
                "METRICS_SERVER_PATH", f"must start with '/', got {self.metrics_path!r}"
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
        proxy.check(self, runs_pods=runs_pods(self.executor_type))
        if not require_server:
            return
        for name, value in (
            ("AGENT_ID", self.agent_id),
            ("AUTH_TOKEN", self.auth_token or self.auth_token_file),
            ("SERVER_URL", self.server_url),
        ):
            if not value:
                also = " (or AUTH_TOKEN_FILE)" if name == "AUTH_TOKEN" else ""
                raise ConfigError(name, f"is required to run the runner{also}")
        # Only `run` reads the token; the file is read again at every connection attempt.
        token_file = Path(self.auth_token_file)
        if self.auth_token_file and not (token_file.is_file() and os.access(token_file, os.R_OK)):
            raise ConfigError("AUTH_TOKEN_FILE", f"no readable file at {self.auth_token_file}")

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
        names = ", ".join(f"`{name}`" for name in var.names)
        rows.append(f"| {names} | {default} | {var.doc} |")
    return "\n".join(rows)
