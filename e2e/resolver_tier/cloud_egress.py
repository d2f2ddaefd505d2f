"""The way out to "the cloud" for unmodified SDKs: a CONNECT proxy and the identity endpoints.

OpenMetadata's secrets managers build their clients themselves: Azure's for
``https://<AZURE_KEY_VAULT_NAME>.vault.azure.net``, GCP's for ``secretmanager.googleapis.com``
over TLS. Neither takes an endpoint from the environment, but both honour the standard proxy
variables (requests and gRPC read ``https_proxy``) and a CA bundle variable. So the resolver tier
points them at this proxy, which tunnels only the cloud names it is given to the local fakes on
127.0.0.1 (serving certificates for those names, from ``CloudCA``) and refuses every other
destination: nothing leaves the machine, and a client that tried another host shows up in
``refused``.

``IdentityEndpoint`` stands for what a cluster's workload identity provides: Azure's managed
identity token endpoint (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``, the App Service protocol
azure-identity's ``DefaultAzureCredential`` speaks) and an OAuth token endpoint for a GCP service
account key whose ``token_uri`` points here.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from e2e.controlplane.cluster import CertificateAuthority, KeyPair


class CloudCA:
    """A CA whose bundle the clients trust, issuing serving certificates for cloud names."""

    def __init__(self, directory: Path) -> None:
        self.ca = CertificateAuthority("hybrid-runner-e2e-cloud-ca")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle = directory / "cloud-ca.pem"
        self.bundle.write_bytes(self.ca.pair.cert_pem)

    def serving(self, name: str, *hosts: str) -> tuple[KeyPair, Path, Path]:
        """A certificate for ``hosts``: the pair, its chain file and its key file."""
        pair = self.ca.issue(hosts[0], dns_names=hosts, server=True)
        chain = self.directory / f"{name}-chain.pem"
        key = self.directory / f"{name}-key.pem"
        chain.write_bytes(pair.cert_pem + self.ca.pair.cert_pem)
        key.write_bytes(pair.key_pem)
        return pair, chain, key


class ConnectProxy:
    """HTTP CONNECT proxy on 127.0.0.1: ``routes`` maps ``host:port`` to a local port."""

    def __init__(self, routes: Mapping[str, int]) -> None:
        self.routes = dict(routes)
        #: Every ``host:port`` tunnelled, and every one refused, in order.
        self.tunnelled: list[str] = []
        self.refused: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="connect-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = client.recv(4096)
                if not chunk:
                    break
                head += chunk
        request, _, rest = head.partition(b"\r\n\r\n")
        words = request.split(b"\r\n", 1)[0].decode("latin-1").split()
        target = words[1] if len(words) == 3 and words[0] == "CONNECT" else " ".join(words[:2])
        port = self.routes.get(target) if words[:1] == ["CONNECT"] else None
        if port is None:
            self.refused.append(target)
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port))
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        self.tunnelled.append(target)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


class IdentityEndpoint:
    """Token endpoints on 127.0.0.1 for the workload identities the pods would have.

    ``GET /msi/token?resource=...`` with header ``X-IDENTITY-HEADER``: Azure's managed identity
    (App Service protocol), answering ``azure_token``. ``POST /oauth2/token``: an OAuth token for
    a GCP service account key whose ``token_uri`` is ``gcp_token_uri``.
    """

    def __init__(self, azure_token: str) -> None:
        self.azure_token = azure_token
        self.identity_header = "e2e-" + secrets.token_hex(8)
        #: (path, resource or grant type) of every token request.
        self.requests: list[tuple[str, str]] = []
        endpoint = self

        class Handler(_TokenHandler):
            owner = endpoint

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def azure_identity_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/msi/token"

    @property
    def gcp_token_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth2/token"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: IdentityEndpoint

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        resource = (query.get("resource") or [""])[0]
        self.owner.requests.append((url.path, resource))
        if url.path != "/msi/token":
            self._send(404, {"error": "not_found"})
        elif self.headers.get("X-IDENTITY-HEADER") != self.owner.identity_header:
            self._send(401, {"error": "invalid_request", "error_description": "bad header"})
        else:
            expires = int(time.time()) + 3600
            self._send(
                200,
                {
                    "access_token": self.owner.azure_token,
                    "expires_on": str(expires),
                    "resource": resource,
                    "token_type": "Bearer",
                },
            )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        grant = (parse_qs(body).get("grant_type") or [""])[0]
        self.owner.requests.append((urlsplit(self.path).path, grant))
        token = {"access_token": "e2e-gcp-" + secrets.token_hex(8), "expires_in": 3600}
        self._send(200, {**token, "token_type": "Bearer"})

    def _send(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
