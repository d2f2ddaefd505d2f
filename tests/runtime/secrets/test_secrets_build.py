"""build_secrets: SECRETS_MANAGER picks the backend, and building one contacts nothing."""

from __future__ import annotations

import socket
from typing import Any

import google.auth
import kubernetes.client
import kubernetes.config
import pytest

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService, build_secrets
from runtime.secrets.aws import AwsSecretStore
from runtime.secrets.azure import AzureKeyVaultStore
from runtime.secrets.gcp import GcpSecretStore
from runtime.secrets.kubernetes import KubernetesSecretStore
from runtime.settings import Settings


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any connection, ADC lookup or kubeconfig load is recorded and refused."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise AssertionError(f"{what} while building a store")

        return fail

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(google.auth, "default", refuse("google.auth.default"))
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", refuse("incluster config"))
    monkeypatch.setattr(kubernetes.config, "load_kube_config", refuse("kubeconfig"))
    return attempts


def settings(**env: str) -> Settings:
    base = {
        "INGESTION_NAMESPACE": "ingest",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "GOOGLE_CLOUD_PROJECT": "my-project",
        "AZURE_KEY_VAULT_NAME": "my-vault",
    }
    return Settings.from_env({**base, **env})


@pytest.mark.parametrize(
    ("manager", "kind", "backend", "pod_env"),
    [
        (
            "kubernetes",
            KubernetesSecretStore,
            "kubernetes",
            {"KUBERNETES_IN_CLUSTER": "true", "KUBERNETES_NAMESPACE": "ingest"},
        ),
        ("managed-aws", AwsSecretStore, "aws", {"AWS_DEFAULT_REGION": "eu-central-1"}),
        ("aws", AwsSecretStore, "aws", {"AWS_DEFAULT_REGION": "eu-central-1"}),
        ("managed-azure-kv", AzureKeyVaultStore, "azure-kv", {"AZURE_KEY_VAULT_NAME": "my-vault"}),
        ("azure-kv", AzureKeyVaultStore, "azure-kv", {"AZURE_KEY_VAULT_NAME": "my-vault"}),
        ("gcp", GcpSecretStore, "gcp", {"GOOGLE_CLOUD_PROJECT": "my-project"}),
    ],
)
def test_backend_by_secrets_manager(
    no_network: list[str],
    metrics: Metrics,
    manager: str,
    kind: type,
    backend: str,
    pod_env: dict[str, str],
) -> None:
    service = build_secrets(settings(SECRETS_MANAGER=manager), metrics)
    assert isinstance(service, SecretsService)
    assert isinstance(service.store, kind)
    assert service.provider == manager  # written as-is into secretsManagerProvider
    assert service.store.backend == backend
    assert service.pod_env() == pod_env
    config = service.configure_workflow_config({})
    assert config["workflowConfig"]["openMetadataServerConfig"]["secretsManagerProvider"] == manager
    assert no_network == []


def test_default_is_kubernetes(no_network: list[str], metrics: Metrics) -> None:
    service = build_secrets(Settings.from_env({"INGESTION_NAMESPACE": "ns"}), metrics)
    assert isinstance(service.store, KubernetesSecretStore)
    assert service.store.namespace == "ns"


def test_preflight_settings_reach_the_service_and_the_backend(metrics: Metrics) -> None:
    service = build_secrets(
        settings(SECRETS_MANAGER="gcp", SECRETS_PREFLIGHT_TIMEOUT_SECONDS="2.5"), metrics
    )
    assert service.timeout == 2.5
    assert service.enabled
    assert isinstance(service.store, GcpSecretStore)
    assert service.store.timeout == 2.5  # one backend call cannot outlive the preflight


def test_preflight_disabled_makes_no_call(no_network: list[str], metrics: Metrics) -> None:
    service = build_secrets(settings(SECRETS_PREFLIGHT="false"), metrics)

    def check(secret_id: str) -> None:
        raise AssertionError("preflight called the store")

    service.store.check = check  # type: ignore[method-assign]
    assert service.preflight({"a": ["secret:x", "secret:bad/id"]}) == 0
    assert no_network == []
