"""GcpSecretStore against the local gRPC Secret Manager, through the real client."""

from __future__ import annotations

import time

import google.auth
import pytest

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService
from runtime.secrets.gcp import GcpSecretStore
from runtime.wire.errors import (
    InvalidSecretReference,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)
from tests.runtime.secrets.gcp_server import FakeSecretManager, crc32c
from tests.runtime.secrets.secrets_testlib import GCP_PROJECT, gcp_store, nested_document, timed


def name(secret_id: str) -> str:
    return f"projects/{GCP_PROJECT}/secrets/{secret_id}/versions/latest"


def test_present_secret_reads_metadata_only(gcp: FakeSecretManager) -> None:
    gcp.add(GCP_PROJECT, "my-db-password", "pw")
    gcp_store(gcp).check("my-db-password")
    # Exactly OpenMetadata's resource name, and never the payload.
    assert gcp.calls == [("get_secret_version", name("my-db-password"))]


def test_latest_version_decides(gcp: FakeSecretManager) -> None:
    gcp.add(GCP_PROJECT, "rotated", "old")
    gcp.add(GCP_PROJECT, "rotated", "new")
    gcp.set_state(GCP_PROJECT, "rotated", "DISABLED", version=1)
    gcp_store(gcp).check("rotated")
    gcp.set_state(GCP_PROJECT, "rotated", "DISABLED")
    with pytest.raises(SecretNotFound, match="versions/2\\) is DISABLED"):
        gcp_store(gcp).check("rotated")


def test_missing_secret(gcp: FakeSecretManager) -> None:
    with pytest.raises(SecretNotFound) as caught:
        gcp_store(gcp).check("absent")
    assert name("absent") in caught.value.message


@pytest.mark.parametrize("state", ["DISABLED", "DESTROYED"])
def test_unusable_state_is_not_found(gcp: FakeSecretManager, state: str) -> None:
    gcp.add(GCP_PROJECT, "db", "pw", state=state)
    with pytest.raises(SecretNotFound, match=f"is {state}"):
        gcp_store(gcp).check("db")


def test_permission_denied_is_forbidden(gcp: FakeSecretManager) -> None:
    gcp.deny(GCP_PROJECT, "db")
    with pytest.raises(SecretForbidden) as caught:
        gcp_store(gcp).check("db")
    message = caught.value.message
    assert "roles/secretmanager.viewer" in message
    assert "roles/secretmanager.secretAccessor" in message
    assert "secretmanager.versions.get" in message


def test_unavailable_answer(gcp: FakeSecretManager) -> None:
    gcp.add(GCP_PROJECT, "db", "pw")
    gcp.unavailable = True
    with pytest.raises(SecretStoreUnavailable, match="UNAVAILABLE") as caught:
        gcp_store(gcp).check("db")
    assert caught.value.retryable
    assert gcp.count("get_secret_version") == 1  # no retry loop


def test_store_stopped() -> None:
    server = FakeSecretManager()
    server.start()
    server.add(GCP_PROJECT, "db", "pw")
    store = gcp_store(server)
    store.check("db")
    server.stop()
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match="UNAVAILABLE"):
        store.check("db")
    assert time.monotonic() - start < 3


def test_port_closed(gcp: FakeSecretManager, closed_port: int) -> None:
    with pytest.raises(SecretStoreUnavailable, match="UNAVAILABLE"):
        gcp_store(gcp, port=closed_port).check("db")


def test_deadline_of_the_store(gcp: FakeSecretManager) -> None:
    gcp.add(GCP_PROJECT, "db", "pw")
    gcp.delay = 2.0
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match="DEADLINE_EXCEEDED"):
        gcp_store(gcp, timeout=0.3).check("db")
    assert time.monotonic() - start < 1.5


def test_timeout_through_preflight(gcp: FakeSecretManager, metrics: Metrics) -> None:
    gcp.add(GCP_PROJECT, "db", "pw")
    gcp.delay = 2.0
    service = SecretsService(gcp_store(gcp, timeout=5), metrics, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match=r"secret:db at \$\.a: no answer within 0\.3s"):
        service.preflight({"a": "secret:db"})
    assert time.monotonic() - start < 1.5
    service.close()


def test_nested_reference_in_a_list(gcp: FakeSecretManager, metrics: Metrics) -> None:
    gcp.add(GCP_PROJECT, "present", "pw")
    service = SecretsService(gcp_store(gcp), metrics)
    assert service.preflight(nested_document("present")) == 1
    with pytest.raises(SecretNotFound) as caught:
        service.preflight(nested_document("present", "absent"))
    path = "$.source.serviceConnection.config.connectionArguments[2].value"
    assert f"secret:absent at {path}" in caught.value.message
    assert "(gcp store)" in caught.value.message


def test_many_references_concurrently(gcp: FakeSecretManager, metrics: Metrics) -> None:
    ids = [f"bulk-{i}" for i in range(50)]
    for secret_id in ids:
        gcp.add(GCP_PROJECT, secret_id, "pw")
    delay = 0.3
    gcp.delay = delay
    service = SecretsService(gcp_store(gcp), metrics, max_workers=16)
    count, elapsed = timed(service.preflight, nested_document(*ids))
    assert count == 50
    assert gcp.count("get_secret_version") == 50
    assert elapsed < 50 * delay / 3, elapsed
    service.close()


@pytest.mark.parametrize("bad", ["", "has/slash", "dotted.name", "x" * 256, "secret id"])
def test_invalid_ids(bad: str) -> None:
    problem = GcpSecretStore(GCP_PROJECT).validate_id(bad)
    assert problem is not None
    assert "secret:my-db-password" in problem


def test_full_resource_name_is_refused_with_the_bare_id() -> None:
    """OpenMetadata always builds projects/<p>/secrets/<id>/versions/latest from the id."""
    problem = GcpSecretStore(GCP_PROJECT).validate_id(name("db-pass"))
    assert problem is not None
    assert "write secret:db-pass" in problem


@pytest.mark.parametrize("good", ["db", "DB_pass-1", "x" * 255])
def test_valid_ids(good: str) -> None:
    assert GcpSecretStore(GCP_PROJECT).validate_id(good) is None


def test_invalid_id_through_preflight_makes_no_call(
    gcp: FakeSecretManager, metrics: Metrics
) -> None:
    service = SecretsService(gcp_store(gcp), metrics)
    with pytest.raises(InvalidSecretReference, match="secret:a/b at"):
        service.preflight({"x": "secret:a/b"})
    assert gcp.calls == []


def test_project_from_application_default_credentials(
    gcp: FakeSecretManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fake_default() -> tuple[object, str]:
        calls.append(1)
        return object(), "adc-project"

    monkeypatch.setattr(google.auth, "default", fake_default)
    gcp.add("adc-project", "db", "pw")
    store = GcpSecretStore(None, client=gcp.client())
    store.check("db")
    assert gcp.calls == [("get_secret_version", "projects/adc-project/secrets/db/versions/latest")]
    assert store.pod_env() == {"GOOGLE_CLOUD_PROJECT": "adc-project"}
    assert len(calls) == 1  # looked up once


def test_no_project_anywhere(monkeypatch: pytest.MonkeyPatch, gcp: FakeSecretManager) -> None:
    def no_credentials() -> tuple[object, str]:
        raise google.auth.exceptions.DefaultCredentialsError("none")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", no_credentials)
    store = GcpSecretStore(None, client=gcp.client())
    assert store.pod_env() == {}
    with pytest.raises(SecretStoreUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        store.check("db")


def test_pod_env_and_construction_contacts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("ADC looked up")

    monkeypatch.setattr(google.auth, "default", fail)
    store = GcpSecretStore("my-project")
    assert store.pod_env() == {"GOOGLE_CLOUD_PROJECT": "my-project"}
    assert store.provider == "gcp"


def test_server_serves_what_openmetadata_reads(gcp: FakeSecretManager) -> None:
    """The fake's AccessSecretVersion carries a valid CRC32C, as ingestion verifies it."""
    gcp.add(GCP_PROJECT, "db", "s3cret")
    response = gcp.client().access_secret_version(name=name("db"))
    assert response.payload.data == b"s3cret"
    assert response.payload.data_crc32c == crc32c(b"s3cret")
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def test_no_google_credentials_is_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an injected client the real one is built lazily from ADC, which may be absent."""

    def no_credentials(*args: object, **kwargs: object) -> tuple[object, str]:
        raise google.auth.exceptions.DefaultCredentialsError(  # type: ignore[no-untyped-call]
            "Your default credentials were not found."
        )

    monkeypatch.setattr(google.auth, "default", no_credentials)
    store = GcpSecretStore(GCP_PROJECT)
    with pytest.raises(SecretForbidden, match="Workload Identity") as caught:
        store.check("db")
    assert "default credentials were not found" in caught.value.message
