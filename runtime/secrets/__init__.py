"""Secret references (``secret:<id>``): the store they live in, preflight, and pod settings;
and the stores' registry.

A store is one entry of ``STORES`` plus its module, under a name that
``runtime.config.backends.SECRETS_MANAGERS`` declares (with the variables it passes to the
pods). The entry says how to build it (imported and constructed lazily: building one contacts
nothing and imports only its own cloud SDK), how to cross-check the settings at start-up, and
the RBAC rules it needs (``runtime.permissions``). docs/handlers.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from runtime.config.backends import SECRETS_MANAGERS, runs_pods
from runtime.config.pods import IngestionPodSettings
from runtime.kubeapi.rbac import Rule
from runtime.observability.metrics import Metrics
from runtime.secrets.base import SECRET_PREFIX, SecretStore, find_references
from runtime.secrets.scope import SecretScope
from runtime.secrets.service import SecretsService
from runtime.settings import Settings
from runtime.wire.errors import ConfigError

__all__ = [
    "SECRET_PREFIX",
    "STORES",
    "SecretStore",
    "SecretsService",
    "StoreEntry",
    "build_secrets",
    "build_store",
    "check_store",
    "find_references",
    "store_entry",
]


def _no_check(settings: Settings) -> None:
    return None


@attrs.frozen(kw_only=True)
class StoreEntry:
    """How to build and check one secret store (``SECRETS_MANAGER=<name>``)."""

    name: str
    #: Builds the store from settings (importing its module here); contacts nothing.
    build: Callable[[Settings], SecretStore]
    #: Cross-checks settings at start-up; raises ``ConfigError`` naming the variable.
    check: Callable[[Settings], None] = _no_check
    rules: tuple[Rule, ...] = ()
    ingestion_rules: tuple[Rule, ...] = ()
    #: Its ids name Kubernetes Secrets in the ingestion namespace: the runner (preflight) and
    #: the ingestion pods get ``get`` on exactly the allowed ones (``runtime.permissions``).
    reads_kubernetes_secrets: bool = False


def _timeouts(settings: Settings) -> tuple[float, float]:
    """(connect, read): a backend call may not outlive its preflight by much."""
    read_timeout = settings.secrets_preflight_timeout
    return min(3.0, read_timeout), read_timeout


def _build_kubernetes(settings: Settings) -> SecretStore:
    from runtime.secrets.kubernetes import KubernetesSecretStore

    connect, read = _timeouts(settings)
    return KubernetesSecretStore(
        settings.ingestion_namespace, connect_timeout=connect, read_timeout=read
    )


def _build_aws(settings: Settings) -> SecretStore:
    from runtime.secrets.aws import AwsSecretStore

    connect, read = _timeouts(settings)
    return AwsSecretStore(
        settings.secrets_manager,
        settings.aws_region or None,
        connect_timeout=connect,
        read_timeout=read,
    )


def _build_azure(settings: Settings) -> SecretStore:
    from runtime.secrets.azure import AzureKeyVaultStore

    connect, read = _timeouts(settings)
    return AzureKeyVaultStore(
        settings.secrets_manager,
        settings.azure_key_vault_name,
        connect_timeout=connect,
        read_timeout=read,
    )


def _build_gcp(settings: Settings) -> SecretStore:
    from runtime.secrets.gcp import GcpSecretStore

    return GcpSecretStore(settings.gcp_project or None, timeout=_timeouts(settings)[1])


def _check_kubernetes(settings: IngestionPodSettings) -> None:
    if runs_pods(settings.executor_type) and not settings.ingestion_automount_sa_token:
        # kubernetes_secrets_manager.py calls load_incluster_config() when the pod says
        # KUBERNETES_IN_CLUSTER=true: without the token every run fails before it starts.
        raise ConfigError(
            "INGESTION_AUTOMOUNT_SA_TOKEN",
            "false contradicts SECRETS_MANAGER=kubernetes: OpenMetadata's Kubernetes secrets "
            "manager reads the ingestion pod's service account token (in-cluster "
            "configuration) as it starts, so every run would fail",
        )


def _check_azure(settings: Settings) -> None:
    if not settings.azure_key_vault_name:
        raise ConfigError(
            "AZURE_KEY_VAULT_NAME", f"required when SECRETS_MANAGER={settings.secrets_manager}"
        )


STORES: dict[str, StoreEntry] = {
    entry.name: entry
    for entry in (
        # The preflight reads Secrets; so does OpenMetadata's kubernetes secrets manager in the
        # pod: both only the allowed ones. The cloud stores need no Kubernetes permission: their
        # access comes from the cloud identity bound to the service account (IRSA, Azure or GKE
        # workload identity).
        StoreEntry(
            name="kubernetes",
            build=_build_kubernetes,
            check=_check_kubernetes,
            reads_kubernetes_secrets=True,
        ),
        StoreEntry(name="managed-aws", build=_build_aws),
        StoreEntry(name="aws", build=_build_aws),
        StoreEntry(name="managed-azure-kv", build=_build_azure, check=_check_azure),
        StoreEntry(name="azure-kv", build=_build_azure, check=_check_azure),
        StoreEntry(name="gcp", build=_build_gcp),
    )
}


def store_entry(name: str) -> StoreEntry:
    if name not in STORES or name not in SECRETS_MANAGERS:
        raise ValueError(f"unknown secrets manager {name!r}; expected one of {tuple(STORES)}")
    return STORES[name]


def check_store(settings: Settings) -> None:
    """The start-up check of the chosen store (its entry's ``check``): ``ConfigError`` naming
    the variable (a vault name for Azure, the token for Kubernetes)."""
    store_entry(settings.secrets_manager).check(settings)


def build_store(settings: Settings) -> SecretStore:
    """The store for ``settings.secrets_manager`` (its ``STORES`` entry); no network access
    happens here."""
    manager = settings.secrets_manager
    if manager not in STORES:
        raise ValueError(f"unknown SECRETS_MANAGER {manager!r}")
    return STORES[manager].build(settings)


def build_secrets(settings: Settings, metrics: Metrics) -> SecretsService:
    """The SecretsService handlers use, on the store ``SECRETS_MANAGER`` names."""
    return SecretsService(
        build_store(settings),
        metrics,
        enabled=settings.secrets_preflight,
        timeout=settings.secrets_preflight_timeout,
        scope=SecretScope(patterns=settings.allowed_secret_references),
    )
