"""KubernetesSecretStore against the HTTP fake of the API server (tests/runtime/kube_api_server.py)
through a real ``ApiClient``; failures below HTTP (TLS, refused connections, timeouts) are
raised by that client's transport, as urllib3 would raise them.

One test also drives the real client through a kubeconfig to a closed port, so the
connection-error mapping is exercised by urllib3 itself.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pytest
import urllib3
from kubernetes import client, config

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService
from runtime.secrets.kubernetes import KubernetesSecretStore
from runtime.wire.errors import (
    InvalidSecretReference,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)
from tests.runtime.kube_api_server import TOKEN, KubeApiServer, Seen
from tests.runtime.secrets.secrets_testlib import nested_document, timed

NAMESPACE = "ingestion"
SECRETS = f"/api/v1/namespaces/{NAMESPACE}/secrets"


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


class FaultyClient(client.ApiClient):
    """A real ``ApiClient`` whose transport raises ``failures[name]`` for Secret ``name``, as
    urllib3 or the library would (no HTTP answer), and records each call's timeout."""

    def __init__(self, configuration: Any, failures: dict[str, BaseException]) -> None:
        super().__init__(configuration)
        self.failures = failures
        self.timeouts: list[Any] = []

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs.get("_request_timeout"))
        name = url.rsplit("/", 1)[-1]
        if name in self.failures:
            raise self.failures[name]
        return super().call_api(method, url, *args, **kwargs)


@attrs.define
class Cluster:
    """The fake API server, the client pointed at it, and what each Secret answers."""

    server: KubeApiServer
    api_client: FaultyClient
    failures: dict[str, BaseException]

    def add(self, name: str, **data: str) -> None:
        self.server.state.objects[f"{SECRETS}/{name}"] = v1secret(name, **data)

    def fail(self, name: str, status: int, message: str = "") -> None:
        self.server.state.errors[f"{SECRETS}/{name}"] = (status, message)

    def reads(self) -> list[Seen]:
        return self.server.requests("GET", "")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    server = KubeApiServer()
    failures: dict[str, BaseException] = {}
    api_client = FaultyClient(server.api_client().configuration, failures)
    yield Cluster(server, api_client, failures)
    server.close()


@pytest.fixture
def store(cluster: Cluster) -> KubernetesSecretStore:
    return KubernetesSecretStore(NAMESPACE, api_client=cluster.api_client, read_timeout=4.0)


def test_present_secret_passes_with_explicit_timeout(
    cluster: Cluster, store: KubernetesSecretStore
) -> None:
    cluster.add("my-db-password", value="pw")
    store.check("my-db-password")
    (read,) = cluster.reads()
    assert read.path == f"{SECRETS}/my-db-password"
    assert cluster.api_client.timeouts == [(3.0, 4.0)]
    # The injected ApiClient is the one the requests go through (its token), built on once.
    assert read.headers["authorization"] == f"Bearer {TOKEN}"
    made = store._kube_api()
    store.check("my-db-password")
    assert store._kube_api() is made
    assert len(cluster.api_client.timeouts) == 2


def test_construction_contacts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = mock.Mock(side_effect=AssertionError("loaded configuration"))
    monkeypatch.setattr(config, "load_incluster_config", loader)
    monkeypatch.setattr(config, "load_kube_config", loader)
    store = KubernetesSecretStore(NAMESPACE)
    assert store.pod_env() == {"KUBERNETES_IN_CLUSTER": "true", "KUBERNETES_NAMESPACE": NAMESPACE}
    assert store.provider == "kubernetes"
    assert store.validate_id("ok") is None
    loader.assert_not_called()


def test_missing_secret(cluster: Cluster, store: KubernetesSecretStore) -> None:
    with pytest.raises(SecretNotFound) as caught:
        store.check("nope")
    assert "'nope'" in caught.value.message and NAMESPACE in caught.value.message
    assert "kubectl create secret generic nope --from-literal=value=" in caught.value.message


@pytest.mark.parametrize("data", [{"password": "pw", "user": "u"}, {}])
def test_secret_without_value_key(
    cluster: Cluster, store: KubernetesSecretStore, data: dict[str, str]
) -> None:
    cluster.add("db", **data)
    with pytest.raises(SecretNotFound) as caught:
        store.check("db")
    message = caught.value.message
    assert "no key 'value'" in message
    # A refusal tells the server nothing of what the Secret holds: no other key, no value.
    assert "password" not in message and "user" not in message and "pw" not in message


def test_forbidden_names_verb_resource_and_namespace(
    cluster: Cluster, store: KubernetesSecretStore
) -> None:
    cluster.fail(
        "db",
        403,
        'secrets "db" is forbidden: User "system:serviceaccount:runner:runner" cannot get '
        'resource "secrets" in API group "" in the namespace "ingestion"',
    )
    with pytest.raises(SecretForbidden) as caught:
        store.check("db")
    message = caught.value.message
    assert "verb 'get'" in message and "resource 'secrets'" in message
    assert f"namespace {NAMESPACE!r}" in message
    assert "system:serviceaccount:runner:runner" in message  # the API server's own words


def test_unauthorized_is_forbidden(cluster: Cluster, store: KubernetesSecretStore) -> None:
    cluster.fail("db", 401)
    with pytest.raises(SecretForbidden, match="rejected the runner's credentials"):
        store.check("db")


@pytest.mark.parametrize(
    "error",
    [
        (500, "etcdserver: request timed out"),
        (503, ""),
        (429, ""),
        client.ApiException(status=0, reason="SSLError\ncertificate verify failed"),
        urllib3.exceptions.MaxRetryError(None, "/api/v1", reason="Connection refused"),  # type: ignore[arg-type]
        urllib3.exceptions.ReadTimeoutError(None, "/api/v1", "Read timed out."),  # type: ignore[arg-type]
    ],
)
def test_store_down_is_unavailable(
    cluster: Cluster, store: KubernetesSecretStore, error: tuple[int, str] | BaseException
) -> None:
    if isinstance(error, tuple):
        cluster.fail("db", *error)
    else:
        cluster.failures["db"] = error
    with pytest.raises(SecretStoreUnavailable) as caught:
        store.check("db")
    assert caught.value.retryable
    assert "'db'" in caught.value.message


def test_unexpected_error_keeps_only_its_type(
    cluster: Cluster, store: KubernetesSecretStore
) -> None:
    cluster.failures["db"] = ValueError("data: {'value': 'c2VjcmV0'} failed validation")
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
    cluster: Cluster, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    service = SecretsService(store, metrics)
    with pytest.raises(InvalidSecretReference) as caught:
        service.preflight({"password": "secret:team/db"})
    assert "secret:team/db at $.password" in caught.value.message
    assert cluster.reads() == []


def test_nested_reference_in_a_list(
    cluster: Cluster, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    cluster.add("present", value="x")
    service = SecretsService(store, metrics)
    assert service.preflight(nested_document("present")) == 1
    with pytest.raises(SecretNotFound) as caught:
        service.preflight(nested_document("present", "absent"))
    path = "$.source.serviceConnection.config.connectionArguments[2].value"
    assert f"secret:absent at {path}" in caught.value.message
    assert "(kubernetes store)" in caught.value.message


def test_timeout_through_preflight(
    cluster: Cluster, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    cluster.add("db", value="x")
    cluster.server.state.delay = 1.5
    service = SecretsService(store, metrics, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match=r"secret:db at \$\.p: no answer within 0\.2s"):
        service.preflight({"p": "secret:db"})
    assert time.monotonic() - start < 1.0
    service.close()


def test_many_references_concurrently(
    cluster: Cluster, store: KubernetesSecretStore, metrics: Metrics
) -> None:
    delay = 0.2
    cluster.server.state.delay = delay
    for i in range(50):
        cluster.add(f"db-{i}", value=str(i))
    service = SecretsService(store, metrics, max_workers=16)
    count, elapsed = timed(service.preflight, nested_document(*[f"db-{i}" for i in range(50)]))
    assert count == 50
    assert len(cluster.reads()) == 50
    assert elapsed < 50 * delay / 3, elapsed
    service.close()
