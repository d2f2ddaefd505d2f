"""Secret references (``secret:<id>``): the store they live in, preflight, and pod settings.

``build_secrets`` picks the backend named by ``SECRETS_MANAGER``. Backends are imported and
constructed lazily: building one contacts nothing and imports only its own cloud SDK.
"""

from __future__ import annotations

from runtime.metrics import Metrics
from runtime.secrets.base import SECRET_PREFIX, SecretStore, find_references
from runtime.secrets.service import SecretsService
from runtime.settings import Settings

__all__ = [
    "SECRET_PREFIX",
    "SecretStore",
    "SecretsService",
    "build_secrets",
    "build_store",
    "find_references",
]


def build_store(settings: Settings) -> SecretStore:
    """The store for ``settings.secrets_manager``; no network access happens here."""
    manager = settings.secrets_manager
    # A backend call may not outlive the preflight it belongs to by much.
    read_timeout = settings.secrets_preflight_timeout
    connect_timeout = min(3.0, read_timeout)
    if manager == "kubernetes":
        from runtime.secrets.kubernetes import KubernetesSecretStore

        return KubernetesSecretStore(
            settings.ingestion_namespace,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if manager in ("managed-aws", "aws"):
        from runtime.secrets.aws import AwsSecretStore

        return AwsSecretStore(
            manager,
            settings.aws_region or None,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if manager in ("managed-azure-kv", "azure-kv"):
        from runtime.secrets.azure import AzureKeyVaultStore

        return AzureKeyVaultStore(
            manager,
            settings.azure_key_vault_name,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if manager == "gcp":
        from runtime.secrets.gcp import GcpSecretStore

        return GcpSecretStore(settings.gcp_project or None, timeout=read_timeout)
    raise ValueError(f"unknown SECRETS_MANAGER {manager!r}")


def build_secrets(settings: Settings, metrics: Metrics) -> SecretsService:
    """The SecretsService handlers use, on the store ``SECRETS_MANAGER`` names."""
    return SecretsService(
        build_store(settings),
        metrics,
        enabled=settings.secrets_preflight,
        timeout=settings.secrets_preflight_timeout,
    )
