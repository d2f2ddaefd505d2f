"""A local Azure Key Vault speaking its REST protocol over HTTPS on 127.0.0.1.

The Key Vault client refuses plain http and starts every conversation with an authentication
challenge, so this fake serves TLS with a self-signed certificate (made with ``cryptography``),
answers an unauthenticated request with 401 and the ``WWW-Authenticate: Bearer
authorization=..., resource=...`` challenge, then serves the secrets paths the SDK calls:
``GET /secrets/{name}/versions`` (properties of the versions, paged) and
``GET /secrets/{name}[/{version}]`` (the value; what OpenMetadata's ingestion calls).
It can refuse (403), slow down, and counts value reads so tests can prove the runner makes none.

Use with the real ``SecretClient(vault.url, StaticTokenCredential(vault.token),
verify_challenge_resource=False, connection_verify=vault.ca_file)``.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

from tests.runtime.secrets.https_server import TLSServer, make_certificate

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
    'resource="https://vault.azure.net"'
)


class StaticTokenCredential:
    """The smallest TokenCredential: always the same bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class _Version:
    id: str
    value: str
    enabled: bool
    created: int


@dataclass
class _Secret:
    versions: list[_Version] = field(default_factory=list)


class FakeKeyVault:
    """In-memory Key Vault over HTTPS; ``start()`` returns the base URL."""

    api_versions_seen: set[str]

    def __init__(self, cert_dir: Path, *, certificate: tuple[Path, Path] | None = None) -> None:
        """``certificate``: (chain, key) PEM files to serve, e.g. for <vault>.vault.azure.net."""
        self.ca_file, self._key_file = certificate or make_certificate(cert_dir)
        self.token = "fake-token-" + secrets.token_hex(8)
        self._secrets: dict[str, _Secret] = {}
        self._denied: set[str] = set()
        self._lock = threading.Lock()
        self._server: TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        #: Seconds every request waits before answering.
        self.delay = 0.0
        #: (method, path) of every request, including the unauthenticated challenge ones.
        self.requests: list[tuple[str, str]] = []
        #: How many times a secret's value was served.
        self.value_reads = 0
        self.api_versions_seen = set()

    # -- state ---------------------------------------------------------------------------

    def add(self, name: str, value: str, *, enabled: bool = True) -> str:
        """Add a new current version of ``name``; return its version id."""
        version = uuid.uuid4().hex
        with self._lock:
            secret = self._secrets.setdefault(name, _Secret())
            created = int(time.time()) + len(secret.versions)  # strictly increasing
            secret.versions.append(_Version(version, value, enabled, created))
        return version

    def set_enabled(self, name: str, enabled: bool, version: str | None = None) -> None:
        with self._lock:
            versions = self._secrets[name].versions
            target = (
                versions[-1] if version is None else next(v for v in versions if v.id == version)
            )
            target.enabled = enabled

    def deny(self, name: str) -> None:
        """Answer 403 for this secret name, as Key Vault does without list/get permission."""
        with self._lock:
            self._denied.add(name)

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._denied.clear()
            self.requests.clear()
            self.value_reads = 0
        self.delay = 0.0

    # -- server --------------------------------------------------------------------------

    def start(self) -> str:
        vault = self

        class Handler(_Handler):
            fake = vault

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key_file)
        server = TLSServer(("127.0.0.1", 0), Handler, context)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-key-vault")
        self._thread.daemon = True
        self._thread.start()
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeKeyVault:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called from handler threads) -----------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], auth: str | None) -> Any:
        """(status, headers, body object) for one request."""
        self.requests.append((method, path))
        if self.delay:
            time.sleep(self.delay)
        if "api-version" in query:
            self.api_versions_seen.add(query["api-version"][0])
        if auth != f"Bearer {self.token}":
            return (
                401,
                {"WWW-Authenticate": CHALLENGE},
                _error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
            )
        parts = [p for p in path.split("/") if p]
        if method != "GET" or len(parts) < 2 or parts[0] != "secrets":
            return 400, {}, _error("BadParameter", f"unsupported request {method} {path}")
        name = parts[1]
        with self._lock:
            denied = name in self._denied
            secret = self._secrets.get(name)
            versions = list(secret.versions) if secret else []
        if denied:
            return (
                403,
                {},
                _error(
                    "Forbidden",
                    "The user, group or application 'appid=00000000-0000-0000-0000-000000000000' "
                    "does not have secrets list permission on key vault 'fake'.",
                    inner="AccessDenied",
                ),
            )
        if not versions:
            return (
                404,
                {},
                _error(
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault.",
                ),
            )
        if len(parts) == 3 and parts[2] == "versions":
            return 200, {}, self._page(name, versions, query)
        if len(parts) in (2, 3):
            return self._value(name, versions, parts[2] if len(parts) == 3 else "")
        return 400, {}, _error("BadParameter", f"unsupported path {path}")

    def _page(self, name: str, versions: list[_Version], query: dict[str, list[str]]) -> Any:
        size = int(query.get("maxresults", ["25"])[0])
        start = int(query.get("$skiptoken", ["0"])[0])
        chunk = versions[start : start + size]
        next_link = None
        if start + size < len(versions):
            api_version = query.get("api-version", ["7.5"])[0]
            next_link = (
                f"{self.url}/secrets/{name}/versions?api-version={api_version}"
                f"&maxresults={size}&$skiptoken={start + size}"
            )
        return {
            "value": [
                {"id": f"{self.url}/secrets/{name}/{v.id}", "attributes": _attributes(v)}
                for v in chunk
            ],
            "nextLink": next_link,
        }

    def _value(self, name: str, versions: list[_Version], wanted: str) -> Any:
        version = (
            versions[-1] if not wanted else next((v for v in versions if v.id == wanted), None)
        )
        if version is None:
            return (
                404,
                {},
                _error(
                    "SecretNotFound",
                    f"A secret with (name/id) {name}/{wanted} was not found in this key vault.",
                ),
            )
        if not version.enabled:
            return (
                403,
                {},
                _error(
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    inner="SecretDisabled",
                ),
            )
        self.value_reads += 1
        return (
            200,
            {},
            {
                "value": version.value,
                "id": f"{self.url}/secrets/{name}/{version.id}",
                "attributes": _attributes(version),
            },
        )


def _attributes(version: _Version) -> dict[str, Any]:
    return {
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    }


def _error(code: str, message: str, inner: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeKeyVault

    def setup(self) -> None:
        self.request.settimeout(30)
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        status, headers, body = self.fake.handle(
            method, url.path, parse_qs(url.query), self.headers.get("Authorization")
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines go nowhere: tests read the fake's own records instead.
        pass
