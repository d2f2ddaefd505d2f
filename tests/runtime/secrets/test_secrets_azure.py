"""AzureKeyVaultStore against the local HTTPS Key Vault, through the real SecretClient."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService
from runtime.secrets.azure import AzureKeyVaultStore
from runtime.wire.errors import (
    InvalidSecretReference,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)
from tests.runtime.secrets.azure_server import FakeKeyVault, StaticTokenCredential
from tests.runtime.secrets.secrets_testlib import azure_store, nested_document, timed


def test_present_secret_after_the_challenge(azure: FakeKeyVault) -> None:
    azure.add("my-db-password", "pw")
    credential = StaticTokenCredential(azure.token)
    store = AzureKeyVaultStore(
        "azure-kv",
        "runner-test-vault",
        vault_url=azure.url,
        credential=credential,
        connection_verify=str(azure.ca_file),
        verify_challenge_resource=False,
    )
    store.check("my-db-password")
    # First an unauthenticated request (answered with the challenge), then the real one.
    assert azure.requests == [("GET", "/secrets/my-db-password/versions")] * 2
    assert credential.scopes == [("https://vault.azure.net/.default",)]
    assert azure.value_reads == 0


def test_newest_version_decides(azure: FakeKeyVault) -> None:
    old = azure.add("rotated", "old")
    azure.add("rotated", "new")
    azure.set_enabled("rotated", False, version=old)
    azure_store(azure).check("rotated")
    azure.set_enabled("rotated", False)
    with pytest.raises(SecretNotFound, match=r"current version .* is disabled"):
        azure_store(azure).check("rotated")


def test_versions_over_several_pages(azure: FakeKeyVault) -> None:
    for i in range(30):
        azure.add("busy", f"v{i}")
    azure.set_enabled("busy", False)  # the newest, on the second page
    with pytest.raises(SecretNotFound, match="disabled"):
        azure_store(azure).check("busy")


def test_missing_secret(azure: FakeKeyVault) -> None:
    with pytest.raises(SecretNotFound) as caught:
        azure_store(azure).check("absent")
    assert caught.value.message == f"no Key Vault secret 'absent' in {azure.url}"


def test_disabled_secret_is_not_found_with_clear_text(azure: FakeKeyVault) -> None:
    azure.add("db", "pw", enabled=False)
    with pytest.raises(SecretNotFound) as caught:
        azure_store(azure).check("db")
    assert "is disabled; enable it or set a new value" in caught.value.message


def test_forbidden(azure: FakeKeyVault) -> None:
    azure.add("db", "pw")
    azure.deny("db")
    with pytest.raises(SecretForbidden) as caught:
        azure_store(azure).check("db")
    message = caught.value.message
    assert "Key Vault Secrets User" in message
    assert "does not have secrets list permission" in message  # Key Vault's own words, once
    assert message.count("does not have secrets list permission") == 1


def test_rejected_token_is_forbidden_with_workload_identity_hint(azure: FakeKeyVault) -> None:
    azure.add("db", "pw")
    store = azure_store(azure, credential=StaticTokenCredential("not-the-vault-token"))
    with pytest.raises(SecretForbidden, match="Workload Identity") as caught:
        store.check("db")
    assert "AKV10000" in caught.value.message


def test_credential_failure_is_forbidden(azure: FakeKeyVault) -> None:
    class NoIdentity:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token from the included credentials."
                "\nAttempted credentials:\n\tEnvironmentCredential: not configured"
            )

    store = AzureKeyVaultStore(
        "azure-kv",
        "runner-test-vault",
        vault_url=azure.url,
        credential=NoIdentity(),
        connection_verify=str(azure.ca_file),
        verify_challenge_resource=False,
    )
    with pytest.raises(SecretForbidden) as caught:
        store.check("db")
    assert "azure.workload.identity/client-id" in caught.value.message
    assert "\n" not in caught.value.message


def test_store_stopped(tmp_path: Path) -> None:
    vault = FakeKeyVault(tmp_path)
    vault.start()
    vault.add("db", "pw")
    store = azure_store(vault)
    store.check("db")
    vault.stop()
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match="cannot reach") as caught:
        store.check("db")
    assert time.monotonic() - start < 5
    assert caught.value.retryable


def test_port_closed(azure: FakeKeyVault, closed_port: int) -> None:
    with pytest.raises(SecretStoreUnavailable, match="Connection refused"):
        azure_store(azure, url=f"https://127.0.0.1:{closed_port}").check("db")


def test_untrusted_certificate_is_unavailable(azure: FakeKeyVault) -> None:
    store = azure_store(azure, connection_verify=True)
    with pytest.raises(SecretStoreUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        store.check("db")


def test_read_timeout_of_the_store(azure: FakeKeyVault) -> None:
    azure.add("db", "pw")
    azure.delay = 1.0
    store = azure_store(azure, read_timeout=0.2)
    with pytest.raises(SecretStoreUnavailable):
        store.check("db")


def test_timeout_through_preflight(azure: FakeKeyVault, metrics: Metrics) -> None:
    azure.add("db", "pw")
    azure.delay = 2.0
    service = SecretsService(azure_store(azure), metrics, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match=r"secret:db at \$\.a: no answer within 0\.3s"):
        service.preflight({"a": "secret:db"})
    assert time.monotonic() - start < 1.5
    service.close()


def test_nested_reference_in_a_list(azure: FakeKeyVault, metrics: Metrics) -> None:
    azure.add("present", "pw")
    service = SecretsService(azure_store(azure), metrics)
    assert service.preflight(nested_document("present")) == 1
    with pytest.raises(SecretNotFound) as caught:
        service.preflight(nested_document("present", "absent"))
    path = "$.source.serviceConnection.config.connectionArguments[2].value"
    assert f"secret:absent at {path}" in caught.value.message
    assert "(azure-kv store)" in caught.value.message


def test_many_references_concurrently(azure: FakeKeyVault, metrics: Metrics) -> None:
    names = [f"bulk-{i}" for i in range(50)]
    for secret_name in names:
        azure.add(secret_name, "pw")
    store = azure_store(azure)
    store.check(names[0])  # the authentication challenge, once, outside the timing
    delay = 0.3
    azure.delay = delay
    service = SecretsService(store, metrics, max_workers=16)
    count, elapsed = timed(service.preflight, nested_document(*names))
    assert count == 50
    assert elapsed < 50 * delay / 3, elapsed
    service.close()


@pytest.mark.parametrize("bad", ["", "my_db", "team/db", "dotted.name", "x" * 128, "ünï"])
def test_invalid_ids(bad: str) -> None:
    problem = AzureKeyVaultStore("azure-kv", "v").validate_id(bad)
    assert problem is not None
    assert "secret:my-db-password" in problem


@pytest.mark.parametrize("good", ["db", "My-DB-Password-2", "x" * 127])
def test_valid_ids(good: str) -> None:
    assert AzureKeyVaultStore("azure-kv", "v").validate_id(good) is None


def test_invalid_id_through_preflight_makes_no_call(azure: FakeKeyVault, metrics: Metrics) -> None:
    service = SecretsService(azure_store(azure), metrics)
    with pytest.raises(InvalidSecretReference, match="secret:team/db at"):
        service.preflight({"x": ["secret:team/db"]})
    assert azure.requests == []


def test_pod_env_provider_and_url() -> None:
    store = AzureKeyVaultStore("managed-azure-kv", "prod-vault")
    assert store.pod_env() == {"AZURE_KEY_VAULT_NAME": "prod-vault"}
    assert store.vault_url == "https://prod-vault.vault.azure.net"
    assert store.provider == "managed-azure-kv"
    with pytest.raises(ValueError, match="AZURE_KEY_VAULT_NAME"):
        AzureKeyVaultStore("azure-kv", "")
    with pytest.raises(ValueError, match="provider"):
        AzureKeyVaultStore("azure", "v")


def test_server_serves_what_openmetadata_reads(azure: FakeKeyVault) -> None:
    """The fake also answers get_secret, which ingestion calls, and counts it."""
    from azure.keyvault.secrets import SecretClient

    azure.add("db", "s3cret")
    client = SecretClient(
        azure.url,
        StaticTokenCredential(azure.token),
        verify_challenge_resource=False,
        connection_verify=str(azure.ca_file),
    )
    assert client.get_secret("db").value == "s3cret"
    assert azure.value_reads == 1


def test_default_azure_credential_is_created_lazily(
    azure: FakeKeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure import identity as azure_identity

    created: list[StaticTokenCredential] = []

    def default_credential() -> StaticTokenCredential:
        created.append(StaticTokenCredential(azure.token))
        return created[-1]

    monkeypatch.setattr(azure_identity, "DefaultAzureCredential", default_credential)
    azure.add("db", "pw")
    store = AzureKeyVaultStore(
        "azure-kv",
        "runner-test-vault",
        vault_url=azure.url,
        connection_verify=str(azure.ca_file),
        verify_challenge_resource=False,
    )
    assert created == []
    store.check("db")
    store.check("db")
    assert len(created) == 1
    assert created[0].scopes == [("https://vault.azure.net/.default",)]
