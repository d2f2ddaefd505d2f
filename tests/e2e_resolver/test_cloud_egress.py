"""e2e/resolver_tier/cloud_egress.py: the proxy tunnels only the cloud names it routes, and
nothing else leaves the machine."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.resolver_tier.cloud_egress import CloudCA, ConnectProxy


def _connect(proxy: ConnectProxy, target: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    return sock, sock.recv(4096)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[CloudCA, int]]:
    """A TLS echo of one line, with a certificate for the vault's cloud name."""
    ca = CloudCA(tmp_path)
    _, chain, key = ca.serving("vault", "acme.vault.azure.net")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(1024))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ca, int(listener.getsockname()[1])
    thread.join(timeout=5)
    listener.close()


def test_a_routed_name_reaches_the_local_server_with_a_trusted_certificate(
    tls_server: tuple[CloudCA, int],
) -> None:
    ca, port = tls_server
    proxy = ConnectProxy({"acme.vault.azure.net:443": port})
    try:
        sock, answer = _connect(proxy, "acme.vault.azure.net:443")
        assert answer.startswith(b"HTTP/1.1 200")
        client = ssl.create_default_context(cafile=str(ca.bundle))
        with client.wrap_socket(sock, server_hostname="acme.vault.azure.net") as tls:
            tls.sendall(b"ping\n")
            assert tls.recv(1024) == b"ping\n"
        assert proxy.tunnelled == ["acme.vault.azure.net:443"]
    finally:
        proxy.stop()


@pytest.mark.parametrize("target", ["login.microsoftonline.com:443", "acme.vault.azure.net:80"])
def test_any_other_destination_is_refused_and_recorded(target: str) -> None:
    proxy = ConnectProxy({"acme.vault.azure.net:443": 9})
    try:
        sock, answer = _connect(proxy, target)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 403")
        assert proxy.refused == [target]
        assert proxy.tunnelled == []
    finally:
        proxy.stop()
