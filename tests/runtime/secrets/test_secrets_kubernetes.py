"""KubernetesSecretStore against an autospec'd CoreV1Api (the real-cluster tier comes later).

One test also drives the real client through a kubeconfig to a closed port, so the
connection-error mapping is exercised by urllib3 itself.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import urllib3
from kubernetes import client, config

from runtime.kubeapi import rest as kube_rest
from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService
from runtime.secrets.kubernetes import KubernetesSecretStore
from runtime.wire.errors import (
    InvalidSecretReference,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)
from tests.runtime.secrets.secrets_testlib import core_v1_mock, nested_document, timed

NAMESPACE = "ingestion"


def v1secret(name: str, **data: str) -> dict[str, Any]:
    """A Secret as the API server answers (the store reads it as plain JSON)."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
    }
    if encoded:
        secret["data"] = encoded
    return secret


def api_exception(status: int, reason: str, message: str = "") -> client.ApiException:
    """What the client raises for an error answer: the API server's Status object as body."""
    status_object = {"kind": "Status", "status": "Failure", "message": message, "code": status}
    body = json.dumps(status_object) if message else None
    return client.ApiException(status=status, reason=reason, body=body)


class FakeCluster:
    """The CoreV1Api mock's behaviour: a dict of Secrets and per-name failures."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, BaseException] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    def read(self, name: str, namespace: str, **kwargs: Any) -> dict[str, Any]:
        assert namespace == NAMESPACE
        if self.delay:
            time.sleep(self.delay)
        if name in self.errors:
            raise self.errors[name]
        if name not in self.secrets:
            raise api_exception(404, "Not Found", f'secrets "{name}" not found')
        return self.secrets[name]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeCluster, Any, Any]:
    fake = FakeCluster()
    api = core_v1_mock()
    api.read_namespaced_secret.side_effect = fake.read
    api_client = mock.create_autospec(client.ApiClient, instance=True)
    built_with: list[Any] = []

    def core_v1(api_client: Any) -> Any:
        built_with.append(api_client)
        return api

    monkeypatch.setattr(kube_rest, "CoreV1", core_v1)
    return fake, api, (api_client, built_with)


@pytest.fixture
def store(cluster: tuple[FakeCluster, Any, Any]) -> KubernetesSecretStore:
    _fake, _api, (api_client, _built) = cluster
    return KubernetesSecretStore(NAMESPACE, api_client=api_client, read_timeout=4.0)


def test_present_secret_passes_with_explicit_timeout(
    cluster: Any, store: KubernetesSecretStore
) -> None:
    fake, api, (api_client, built_with) = cluster
    fake.secrets["my-db-password"] = v1secret("my-db-password", value="pw")
    store.check("my-db-password")
    api.read_namespaced_secret.assert_called_once_with(
        "my-db-password", NAMESPACE, _request_timeout=(3.0, 4.0)
    )
    # The injected ApiClient is the one the CoreV1Api was built on, once.
    assert built_with == [api_client]
    store.check("my-db-password")
    assert len(built_with) == 1


def test_construction_contacts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = mock.Mock(side_effect=AssertionError("loaded configuration"))
    monkeypatch.setattr(config, "load_incluster_config", loader)
    monkeypatch.setattr(config, "load_kube_config", loader)
    store = KubernetesSecretStore(NAMESPACE)
    assert store.pod_env() == {"KUBERNETES_IN_CLUSTER": "true", "KUBERNETES_NAMESPACE": NAMESPACE}
    assert store.provider == "kubernetes"
    assert store.validate_id("ok") is None
    loader.assert_not_called()


def test_missing_secret(cluster: Any, store: KubernetesSecretStore) -> None:
    with pytest.raises(SecretNotFound) as caught:
        store.check("nope")
    assert "'nope'" in caught.value.message and NAMESPACE in caught.value.message
    assert "kubectl create secret generic nope --from-literal=value=" in caught.value.message


@pytest.mark.parametrize("data", [{"password": "pw", "user": "u"}, {}])
def test_secret_without_value_key(
    cluster: Any, store: KubernetesSecretStore, data: dict[str, str]
) -> None:
    fake, _api, _ = cluster
    fake.secrets["db"] = v1secret("db", **data)
    with pytest.raises(SecretNotFound) as caught:
        store.check("db")
    message = caught.value.message
    assert "no key 'value'" in message
    # A refusal tells the server nothing of what the Secret holds: no other key, no value.
    assert "password" not in message and "user" not in message and "pw" not in message


def test_forbidden_names_verb_resource_and_namespace(
    cluster: Any, store: KubernetesSecretStore
) -> None:
    fake, _api, _ = cluster
    fake.errors["db"] = api_exception(
        403,
        "Forbidden",
        'secrets "db" is forbidden: User "system:serviceaccount:runner:runner" cannot get '
        'resource "secrets" in API group "" in the namespace "ingestion"',
    )
    with pytest.raises(SecretForbidden) as caught:
        store.check("db")
    message = caught.value.message
    assert "verb 'get'" in message and "resource 'secrets'" in message
    assert f"namespace {NAMESPACE!r}" in message
    assert "system:serviceaccount:runner:runner" in message  # the API server's own words


def test_unauthorized_is_forbidden(cluster: Any, store: KubernetesSecretStore) -> None:
    fake, _api, _ = cluster
    fake.errors["db"] = api_exception(401, "Unauthorized")
    with pytest.raises(SecretForbidden, match="rejected the runner's credentials"):
        store.check("db")


@pytest.mark.parametrize(
    "error",
    [
        api_exception(500, "Internal Server Error", "etcdserver: request timed out"),
        api_exception(503, "Service Unavailable"),
        api_exception(429, "Too Many Requests"),
        client.ApiException(status=0, reason="SSLError\ncertificate verify failed"),
        urllib3.exceptions.MaxRetryError(None, "/api/v1", reason="Connection refused"),  # type: ignore[arg-type]
        urllib3.exceptions.ReadTimeoutError(None, "/api/v1", "Read timed out."),  # type: ignore[arg-type]
    ],
)
def test_store_down_is_unavailable(
    cluster: Any, store: KubernetesSecretStore, error: BaseException
) -> None:
    fake, _api, _ = cluster
    fake.errors["db"] = error
    with pytest.raises(SecretStoreUnavailable) as caught:
        store.check("db")
    assert caught.value.retryable
    assert "'db'" in caught.value.message


def test_unexpected_error_keeps_only_its_type(cluster: Any, store: KubernetesSecretStore) -> None:
    fake, _api, _ = cluster
    fake.errors["db"] = ValueError("data: {'value': 'c2VjcmV0'} failed validation")
    with pytest.raises(SecretStoreUnavailable) as caught:
        store.check("db")
    assert "ValueError" in caught.value.message
    assert "c2VjcmV0" not in caught.value.message


def test_real_client_to_a_closed_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int
) -> None:
    """No in-cluster environment: the kubeconfig is used, and a refused connection maps."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {{server: "http://127.0.0.1:{closed_port}"}}
users:
- name: me
  user: {{token: "not-a-real-token"}}
contexts:
- name: local
  context: {{cluster: local, user: me}}
current-context: local
"""
    )
    monkeypatch.setattr(config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    store = KubernetesSecretStore(NAMESPACE, connect_timeout=1.0, read_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match="cannot reach the Kubernetes API") as caught:
        store.check("db")
    assert time.monotonic() - start < 5
    assert "Connection refused" in caught.value.message
    assert caught.value.retryable


def test_no_configuration_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setattr(config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "x"))
    store = KubernetesSecretStore(NAMESPACE)
    with pytest.raises(SecretStoreUnavailable, match="no Kubernetes configuration") as caught:
        store.check("db")
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "bad",
    ["ns/db", "My-Secret", "db_password", "-db", "db.", "", "a" * 254, "secret:x"],
)
def test_invalid_ids(store: KubernetesSecretStore, bad: str) -> None:
    problem = store.validate_id(bad)
    assert problem is not None
    assert "secret:my-db-password" in problem
    assert "kubectl create secret generic my-db-password --from-literal=value=" in problem


@pytest.mark.parametrize("good", ["db", "my-db-password", "a.b-c.d", "0", "a" * 253])
def test_valid_ids(store: KubernetesSecretStore, good: str) -> None:
    assert store.validate_id(good) is None


def test_invalid_id_through_preflight_makes_no_call(
    cluster: Any, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    _fake, api, _ = cluster
    service = SecretsService(store, metrics)
    with pytest.raises(InvalidSecretReference) as caught:
        service.preflight({"password": "secret:team/db"})
    assert "secret:team/db at $.password" in caught.value.message
    api.read_namespaced_secret.assert_not_called()


def test_nested_reference_in_a_list(
    cluster: Any, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    fake, _api, _ = cluster
    fake.secrets["present"] = v1secret("present", value="x")
    service = SecretsService(store, metrics)
    assert service.preflight(nested_document("present")) == 1
    with pytest.raises(SecretNotFound) as caught:
        service.preflight(nested_document("present", "absent"))
    path = "$.source.serviceConnection.config.connectionArguments[2].value"
    assert f"secret:absent at {path}" in caught.value.message
    assert "(kubernetes store)" in caught.value.message


def test_timeout_through_preflight(
    cluster: Any, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    fake, _api, _ = cluster
    fake.secrets["db"] = v1secret("db", value="x")
    fake.delay = 1.5
    service = SecretsService(store, metrics, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match=r"secret:db at \$\.p: no answer within 0\.2s"):
        service.preflight({"p": "secret:db"})
    assert time.monotonic() - start < 1.0
    service.close()


def test_many_references_concurrently(
    cluster: Any, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    fake, api, _ = cluster
    delay = 0.2
    fake.delay = delay
    for i in range(50):
        fake.secrets[f"db-{i}"] = v1secret(f"db-{i}", value=str(i))
    service = SecretsService(store, metrics, max_workers=16)
    count, elapsed = timed(service.preflight, nested_document(*[f"db-{i}" for i in range(50)]))
    assert count == 50
    assert api.read_namespaced_secret.call_count == 50
    assert elapsed < 50 * delay / 3, elapsed
    service.close()
