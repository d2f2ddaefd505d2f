"""A local Google Cloud Secret Manager speaking the real gRPC protocol on 127.0.0.1.

Google ships no Secret Manager emulator. This server implements the calls the runner and
OpenMetadata's ingestion make (GetSecretVersion, AccessSecretVersion, GetSecret) with grpcio's
generic handlers and google-cloud-secret-manager's own request/response types, so the real
``SecretManagerServiceClient`` talks to it over ``grpc.insecure_channel``. It keeps secrets in
memory, returns real gRPC status codes, and can be told to refuse, fail or slow down.

Reusable outside pytest::

    with FakeSecretManager() as server:
        server.add("my-project", "db-password", "s3cret")
        client = server.client()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)
from google.cloud.secretmanager_v1.types import resources, service
from google.protobuf import timestamp_pb2

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
State: Any = resources.SecretVersion.State


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as ``SecretPayload.data_crc32c`` carries it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


@dataclass
class _Version:
    number: int
    data: bytes
    state: int
    created: float = field(default_factory=time.time)


@dataclass
class _Secret:
    versions: list[_Version] = field(default_factory=list)
    denied: bool = False


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeSecretManager:
    """In-memory Secret Manager; ``start()`` returns the port on 127.0.0.1."""

    def __init__(self, max_workers: int = 64, *, tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: (certificate chain PEM, key PEM) to serve TLS instead of plaintext, e.g. a
        certificate for ``secretmanager.googleapis.com`` when a proxy routes that name here."""
        self._tls = tls
        self._secrets: dict[tuple[str, str], _Secret] = {}
        self._lock = threading.Lock()
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self.port = 0
        #: Seconds every call waits before answering (a slow store).
        self.delay = 0.0
        #: When set, every call fails with UNAVAILABLE (a store that is down but listening).
        self.unavailable = False
        #: (method, resource name) of every call received, in order.
        self.calls: list[tuple[str, str]] = []

    # -- state ---------------------------------------------------------------------------

    def add(self, project: str, secret_id: str, value: bytes | str, state: str = "ENABLED") -> str:
        """Add a version to a secret (creating it); return the version's resource name."""
        data = value.encode() if isinstance(value, str) else value
        with self._lock:
            secret = self._secrets.setdefault((project, secret_id), _Secret())
            number = len(secret.versions) + 1
            secret.versions.append(_Version(number, data, State[state].value))
        return f"projects/{project}/secrets/{secret_id}/versions/{number}"

    def set_state(self, project: str, secret_id: str, state: str, version: int = 0) -> None:
        """Set a version's state (ENABLED, DISABLED, DESTROYED); 0 means the newest."""
        with self._lock:
            versions = self._secrets[(project, secret_id)].versions
            target = versions[-1] if version == 0 else versions[version - 1]
            target.state = State[state].value
            if state == "DESTROYED":
                target.data = b""

    def deny(self, project: str, secret_id: str, denied: bool = True) -> None:
        """Answer PERMISSION_DENIED for this secret (it need not exist, as in GCP)."""
        with self._lock:
            self._secrets.setdefault((project, secret_id), _Secret()).denied = denied

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self.calls.clear()
        self.delay = 0.0
        self.unavailable = False

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    # -- server --------------------------------------------------------------------------

    def start(self) -> int:
        handlers = {
            "GetSecretVersion": self._unary(
                self._get_secret_version, service.GetSecretVersionRequest, resources.SecretVersion
            ),
            "AccessSecretVersion": self._unary(
                self._access_secret_version,
                service.AccessSecretVersionRequest,
                service.AccessSecretVersionResponse,
            ),
            "GetSecret": self._unary(self._get_secret, service.GetSecretRequest, resources.Secret),
        }
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        if self._tls is None:
            self.port = server.add_insecure_port("127.0.0.1:0")
        else:
            cert_pem, key_pem = self._tls
            credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
            self.port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        self._server = server
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, port: int | None = None) -> SecretManagerServiceClient:
        """The real client, over a plaintext channel to this server (or another port)."""
        channel = grpc.insecure_channel(f"127.0.0.1:{port or self.port}")
        return SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    def __enter__(self) -> FakeSecretManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers ------------------------------------------------------------------------

    def _unary(self, fn: Callable[[Any], Any], request_type: Any, response_type: Any) -> Any:
        method = fn.__name__.lstrip("_")

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            self.calls.append((method, request.name))
            deadline = time.monotonic() + self.delay
            while time.monotonic() < deadline and context.is_active():
                time.sleep(0.01)
            if self.unavailable:
                context.abort(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")
            try:
                return fn(request)
            except _Abort as exc:
                context.abort(exc.code, exc.message)

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    def _find(self, name: str, *, want_version: bool) -> tuple[str, str, _Secret, str | None]:
        parts = name.split("/")
        shape_ok = (
            (len(parts) == 6 and parts[4] == "versions" if want_version else len(parts) == 4)
            and parts[0] == "projects"
            and parts[2] == "secrets"
        )
        if not shape_ok:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value: {name}")
        project, secret_id = parts[1], parts[3]
        with self._lock:
            secret = self._secrets.get((project, secret_id))
        if secret is not None and secret.denied:
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission 'secretmanager.versions.get' denied for resource '{name}' "
                "(or it may not exist).",
            )
        if secret is None or not secret.versions:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"Secret [projects/{project}/secrets/{secret_id}] not found or has no versions.",
            )
        return project, secret_id, secret, parts[5] if want_version else None

    def _version(self, name: str) -> tuple[str, str, _Version]:
        project, secret_id, secret, wanted = self._find(name, want_version=True)
        if wanted == "latest":
            version = secret.versions[-1]
        elif wanted is not None and wanted.isdigit() and 1 <= int(wanted) <= len(secret.versions):
            version = secret.versions[int(wanted) - 1]
        else:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        return project, secret_id, version

    def _get_secret_version(self, request: service.GetSecretVersionRequest) -> Any:
        project, secret_id, version = self._version(request.name)
        created = timestamp_pb2.Timestamp()
        created.FromNanoseconds(int(version.created * 1e9))
        return resources.SecretVersion(
            name=f"projects/{project}/secrets/{secret_id}/versions/{version.number}",
            state=version.state,
            create_time=created,
        )

    def _access_secret_version(self, request: service.AccessSecretVersionRequest) -> Any:
        project, secret_id, version = self._version(request.name)
        full = f"projects/{project}/secrets/{secret_id}/versions/{version.number}"
        if version.state != State.ENABLED:
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{full}] is in {State(version.state).name} state.",
            )
        return service.AccessSecretVersionResponse(
            name=full,
            payload=resources.SecretPayload(data=version.data, data_crc32c=crc32c(version.data)),
        )

    def _get_secret(self, request: service.GetSecretRequest) -> Any:
        project, secret_id, _secret, _ = self._find(request.name, want_version=False)
        return resources.Secret(name=f"projects/{project}/secrets/{secret_id}")
