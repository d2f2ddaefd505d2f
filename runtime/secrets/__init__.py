"""Secret references (``secret:<id>``): the store they live in, preflight, and pod settings.

``build_secrets`` picks the backend named by ``SECRETS_MANAGER`` from the registry
(``runtime.backends.STORES``). Backends are imported and constructed lazily: building one
contacts nothing and imports only its own cloud SDK.
"""

from __future__ import annotations

from runtime.backends import STORES
from runtime.metrics import Metrics
from runtime.secrets.base import SECRET_PREFIX, SecretStore, find_references
from runtime.secrets.scope import SecretScope
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
    """The store for ``settings.secrets_manager`` (its ``runtime.backends.STORES`` entry); no
    network access happens here."""
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
