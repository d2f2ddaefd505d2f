"""A secret's value never leaves its store: not in logs, errors, metrics or runner state.

Each backend holds a unique canary as a secret's value. Preflight runs with every library
logger at DEBUG; afterwards the canary (and its base64 form) must appear nowhere the runner
could leak it. A positive control proves the capture would have seen a leak.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import generate_latest

from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import SECRETS
from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService, SecretStore
from runtime.secrets.kubernetes import KubernetesSecretStore
from runtime.wire.errors import RunnerError, SecretNotFound
from tests.runtime.kube_api_server import KubeApiServer
from tests.runtime.secrets.azure_server import FakeKeyVault
from tests.runtime.secrets.gcp_server import FakeSecretManager
from tests.runtime.secrets.secrets_testlib import (
    GCP_PROJECT,
    Aws,
    azure_store,
    gcp_store,
)

LOGGERS = ("", "botocore", "boto3", "urllib3", "azure", "google", "grpc", "kubernetes", "werkzeug")

# Each setup stores the canary under "present" and returns the store plus a control: a call
# that really fetches the value, to prove the canary is there to be leaked.
Setup = Callable[[pytest.FixtureRequest, str], tuple[SecretStore, Callable[[], str]]]


def setup_aws(request: pytest.FixtureRequest, canary: str) -> tuple[SecretStore, Any]:
    aws: Aws = request.getfixturevalue("aws")
    aws.create("present", canary)
    return aws.store(), lambda: aws.admin.get_secret_value(SecretId="present")["SecretString"]


def setup_gcp(request: pytest.FixtureRequest, canary: str) -> tuple[SecretStore, Any]:
    gcp: FakeSecretManager = request.getfixturevalue("gcp")
    gcp.add(GCP_PROJECT, "present", canary)
    name = f"projects/{GCP_PROJECT}/secrets/present/versions/latest"
    return gcp_store(
        gcp
    ), lambda: gcp.client().access_secret_version(name=name).payload.data.decode()


def setup_azure(request: pytest.FixtureRequest, canary: str) -> tuple[SecretStore, Any]:
    from azure.keyvault.secrets import SecretClient

    vault: FakeKeyVault = request.getfixturevalue("azure")
    vault.add("present", canary)
    store = azure_store(vault)

    def control() -> str:
        reader = SecretClient(
            vault.url,
            store._credential,  # type: ignore[arg-type]
            verify_challenge_resource=False,
            connection_verify=str(vault.ca_file),
        )
        return str(reader.get_secret("present").value)

    return store, control


def setup_kubernetes(request: pytest.FixtureRequest, canary: str) -> tuple[SecretStore, Any]:
    # A real ApiClient and HTTP on 127.0.0.1: the store's REST call, urllib3 and their logs.
    server = KubeApiServer()
    request.addfinalizer(server.close)
    encoded = base64.b64encode(canary.encode()).decode()
    path = "/api/v1/namespaces/ingestion/secrets/present"
    server.state.objects[path] = {"kind": "Secret", "data": {"value": encoded}}
    store = KubernetesSecretStore("ingestion", api_client=server.api_client())
    reader = KubeApi(server.api_client)
    return store, lambda: base64.b64decode(
        reader.request("GET", SECRETS, "ingestion", "present")["data"]["value"]
    ).decode()


@pytest.mark.parametrize(
    "setup",
    [setup_aws, setup_gcp, setup_azure, setup_kubernetes],
    ids=["aws", "gcp", "azure", "kubernetes"],
)
def test_canary_never_leaves_the_store(
    setup: Setup,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    metrics: Metrics,
    canary: str,
) -> None:
    store, control = setup(request, canary)
    forms = (canary, base64.b64encode(canary.encode()).decode())
    # Seeding the store (e.g. boto3's CreateSecret) may log the canary; only preflight counts.
    caplog.clear()
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    # google-api-core stops the "google" logger propagating unless logging is configured;
    # let its records (request and response payloads, in ``extra``) reach the capture.
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(logging.getLogger("google"), "propagate", True)

    service = SecretsService(store, metrics, cache_ttl=0)
    assert service.preflight({"a": ["secret:present"]}) == 1
    with pytest.raises(RunnerError) as caught:
        service.preflight({"a": ["secret:present", {"b": "secret:absent"}]})
    assert isinstance(caught.value, SecretNotFound)

    exposed = [record.getMessage() for record in caplog.records]
    exposed += [repr(vars(record)) for record in caplog.records]  # args and extras too
    exposed += [caught.value.message, str(caught.value), repr(caught.value)]
    exposed += [repr(service), repr(vars(service)), repr(store), repr(vars(store))]
    exposed += [generate_latest(metrics.registry).decode()]
    cause = caught.value.__cause__ or caught.value.__context__
    exposed += [repr(cause)] if cause is not None else []
    assert caplog.records, "DEBUG capture was not active"
    for text in exposed:
        for form in forms:
            assert form not in text

    # Positive control: the canary is really in the store, readable by the same client stack.
    assert control() == canary


def test_capture_would_see_a_leak(aws: Aws, caplog: pytest.LogCaptureFixture, canary: str) -> None:
    """The same DEBUG capture does see a value when one is fetched (botocore logs bodies)."""
    aws.create("leaky", canary)
    caplog.clear()
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    aws.admin.get_secret_value(SecretId="leaky")
    assert any(canary in record.getMessage() for record in caplog.records)


def test_azure_and_gcp_never_fetch_a_value(azure: FakeKeyVault, gcp: FakeSecretManager) -> None:
    azure.add("present", "x")
    gcp.add(GCP_PROJECT, "present", "x")
    azure_store(azure).check("present")
    gcp_store(gcp).check("present")
    assert azure.value_reads == 0
    assert gcp.count("access_secret_version") == 0
