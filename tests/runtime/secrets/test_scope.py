"""SECRETS_ALLOWED_REFERENCES: a reference outside the scope is refused before the store is
asked, even with the preflight off, and the refusal names every such reference."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService, build_secrets
from runtime.secrets.gcp import GcpSecretStore
from runtime.secrets.scope import SecretScope
from runtime.settings import Settings
from runtime.wire.errors import Refused
from tests.handlers.support import FakeStore

CONFIG = {
    "source": {"serviceConnection": {"config": {"authType": {"password": "secret:/prod/db"}}}},
    "workflowConfig": {"openMetadataServerConfig": {"jwt": "secret:/collate/bot"}},
}


def service(*patterns: str, enabled: bool = True) -> tuple[SecretsService, FakeStore]:
    store = FakeStore()
    metrics = Metrics(CollectorRegistry())
    scope = SecretScope(patterns=patterns)
    return SecretsService(store, metrics, enabled=enabled, scope=scope), store


@pytest.mark.parametrize("enabled", [True, False])
def test_outside_the_scope_is_refused_before_the_store_is_asked(enabled: bool) -> None:
    secrets, store = service("/collate/*", enabled=enabled)
    with pytest.raises(Refused) as caught:
        secrets.preflight(CONFIG)
    error = caught.value
    assert (error.code, error.rule, error.reason) == (
        "forbidden",
        "secret_reference",
        "SecretNotAllowed",
    )
    assert error.asked == ["secret:/prod/db"]
    assert "secret:/prod/db at $.source.serviceConnection.config.authType.password" in error.message
    assert "SECRETS_ALLOWED_REFERENCES (/collate/*" in error.message
    assert "/collate/bot" not in error.message
    # No probing: the store was not asked about anything, not even the allowed reference.
    assert store.checked == []


def test_inside_the_scope_the_preflight_runs_as_before() -> None:
    secrets, store = service("/collate/*", "/prod/*")
    assert secrets.preflight(CONFIG) == 2
    assert sorted(store.checked) == ["/collate/bot", "/prod/db"]


def test_an_empty_scope_allows_any_reference() -> None:
    secrets, store = service()
    assert secrets.preflight(CONFIG) == 2
    assert len(store.checked) == 2


def test_every_reference_outside_is_named_once_refused() -> None:
    secrets, _ = service("collate-*")
    with pytest.raises(Refused) as caught:
        secrets.preflight({"a": ["secret:x", "secret:collate-ok", {"b": "secret:y"}]})
    assert caught.value.asked == ["secret:x", "secret:y"]
    assert "secret:x at $.a[0]; secret:y at $.a[2].b" in caught.value.message


def test_gcp_references_match_by_id_or_by_resource_name() -> None:
    """Collate's docs scope GCP access by a resource-name prefix; the reference is the bare id."""
    store = GcpSecretStore("acme-data", client=object())  # type: ignore[arg-type]
    scope = SecretScope(patterns=("projects/acme-data/secrets/collate-*",))
    scope.check([("$.p", "collate-mysql")], store.scope_names)
    with pytest.raises(Refused):
        scope.check([("$.p", "other-mysql")], store.scope_names)


def test_the_setting_reaches_the_service() -> None:
    settings = Settings.from_env({"SECRETS_ALLOWED_REFERENCES": "/collate/*,  collate-*"})
    secrets = build_secrets(settings, Metrics(CollectorRegistry()))
    assert secrets.scope.patterns == ("/collate/*", "collate-*")
