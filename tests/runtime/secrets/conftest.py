"""Fixtures for the secret-store tests: real protocols on 127.0.0.1.

AWS is moto's server reached by real boto3; GCP is ``gcp_server.FakeSecretManager`` reached by
the real gRPC client; Azure is ``azure_server.FakeKeyVault`` reached by the real SecretClient
over HTTPS. The servers live for the session and are reset before each test that uses them.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from runtime.observability.metrics import Metrics
from tests.runtime.secrets.azure_server import FakeKeyVault
from tests.runtime.secrets.gcp_server import FakeSecretManager
from tests.runtime.secrets.secrets_testlib import AWS_REGION, Aws, DelayProxy, moto_api


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def canary() -> str:
    """A value that must never leave the store: not in logs, errors or runner state."""
    return f"CANARY-{uuid.uuid4().hex}"


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a TCP proxy that slows requests down ----------------------------------------------------


@pytest.fixture
def delay_proxy() -> Iterator[Any]:
    proxies: list[DelayProxy] = []

    def make(upstream_url: str, delay: float) -> DelayProxy:
        host, _, port = upstream_url.removeprefix("http://").partition(":")
        proxy = DelayProxy((host, int(port)), delay)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


# -- AWS: moto's server ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain finds these keys; nothing from the machine's AWS setup leaks in."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)


@pytest.fixture(scope="session")
def aws_admin(moto_url: str) -> Aws:
    # Creating a boto3 client loads service models (slow under load): one per session.
    return Aws(moto_url)


@pytest.fixture
def aws(moto_url: str, aws_env: None, aws_admin: Aws) -> Iterator[Aws]:
    moto_api(moto_url, "reset")
    yield aws_admin
    aws_admin.enforce_iam(False)


# -- GCP: the gRPC fake ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcp_server() -> Iterator[FakeSecretManager]:
    with FakeSecretManager() as server:
        yield server


@pytest.fixture
def gcp(gcp_server: FakeSecretManager) -> FakeSecretManager:
    gcp_server.reset()
    return gcp_server


# -- Azure: the HTTPS fake -------------------------------------------------------------------


@pytest.fixture(scope="session")
def key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    with FakeKeyVault(tmp_path_factory.mktemp("vault-tls")) as vault:
        yield vault


@pytest.fixture
def azure(key_vault: FakeKeyVault) -> FakeKeyVault:
    key_vault.reset()
    return key_vault
