"""Helpers shared by the secret-store tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from typing import Any

import boto3

from runtime.secrets.aws import AwsSecretStore
from runtime.secrets.azure import AzureKeyVaultStore
from runtime.secrets.gcp import GcpSecretStore
from tests.runtime.secrets.azure_server import FakeKeyVault, StaticTokenCredential
from tests.runtime.secrets.gcp_server import FakeSecretManager

GCP_PROJECT = "runner-test-project"
AWS_REGION = "eu-west-1"


def moto_api(url: str, action: str, body: bytes = b"") -> None:
    """POST to moto's control API (reset, reset-auth); urlopen raises on an error status."""
    # Not form-encoded (urllib's default), or moto's server would not see the raw body.
    headers = {"Content-Type": "text/plain"}
    request = urllib.request.Request(
        f"{url}/moto-api/{action}", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def sample_value(text: str) -> str:
    return f"value-of-{text}"


class DelayProxy:
    """Forwards TCP to ``upstream``, waiting ``delay`` seconds before each client->server chunk.

    One HTTP request from botocore is one chunk, so this makes every call ``delay`` slower.
    ``stop()`` drops every connection, so callers blocked on it fail promptly.
    """

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, slow: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if slow:
                    self._stopped.wait(self.delay)
                if self._stopped.is_set():
                    return
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Aws:
    """Admin access to moto plus stores pointed at it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = self.client("secretsmanager")

    def client(self, service: str, **keys: str) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=AWS_REGION,
            aws_access_key_id=keys.get("key_id", "testing"),
            aws_secret_access_key=keys.get("secret", "testing"),
        )

    def create(self, name: str, value: str | None = None) -> None:
        self.admin.create_secret(Name=name, SecretString=value or sample_value(name))

    def store(self, endpoint_url: str | None = None, **kwargs: Any) -> AwsSecretStore:
        return AwsSecretStore(
            "managed-aws", AWS_REGION, endpoint_url=endpoint_url or self.url, **kwargs
        )

    def enforce_iam(self, enforced: bool) -> None:
        """Moto checks IAM policies only after this (it counts 0 unauthenticated calls)."""
        count = b"0" if enforced else b"inf"
        moto_api(self.url, "reset-auth", count)


def gcp_store(server: FakeSecretManager, timeout: float = 5.0, port: int = 0) -> GcpSecretStore:
    return GcpSecretStore(GCP_PROJECT, client=server.client(port or None), timeout=timeout)


def azure_store(vault: FakeKeyVault, url: str | None = None, **kwargs: Any) -> AzureKeyVaultStore:
    options: dict[str, Any] = {
        "credential": StaticTokenCredential(vault.token),
        "connection_verify": str(vault.ca_file),
        "verify_challenge_resource": False,
        **kwargs,
    }
    return AzureKeyVaultStore(
        "managed-azure-kv", "runner-test-vault", vault_url=url or vault.url, **options
    )


# -- shared assertions -----------------------------------------------------------------------


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - start


def nested_document(*secret_ids: str) -> dict[str, Any]:
    """An ingestion-like config with the references deep inside a list."""
    return {
        "source": {
            "type": "mysql",
            "serviceConnection": {
                "config": {
                    "username": "ingest",
                    "authType": {"password": "plain-text-is-not-a-reference"},
                    "connectionArguments": [
                        {"name": "ssl", "value": "true"},
                        *[
                            {"name": f"arg{i}", "value": f"secret:{sid}"}
                            for i, sid in enumerate(secret_ids)
                        ],
                    ],
                }
            },
        },
        "workflowConfig": {"loggerLevel": "INFO"},
    }


def dump(value: Any) -> str:
    return json.dumps(value, default=repr)
