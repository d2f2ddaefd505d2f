"""runtime.kubeapi.loading: the ``ApiClient`` configuration of the executors and of the
Kubernetes secret store reaches the API server directly, never through the egress proxy the
runner exports for the cloud SDKs; driven against the HTTP fake of the API server
(tests/runtime/kube_api_server.py) with a proxy that only counts who connects to it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import SECRETS
from tests.runtime.kube_api_server import TOKEN, KubeApiServer, serving

NS = "ingestion"


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    yield from serving()


class ProxyTrap:
    """A listener that only counts who connects to it: a proxy nothing should use."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._sock.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        self._sock.close()


@pytest.mark.parametrize("loader", ["executor", "secret store"])
def test_the_kubernetes_api_never_goes_through_the_proxy(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: str
) -> None:
    """The runner exports HTTPS_PROXY for the cloud SDKs; the kubernetes library reads it too
    (``Configuration()`` calls ``getproxies()``), and the API server is in the cluster."""
    from kubernetes import config as k8s_config

    from runtime.executors.kube.client import load_api_client
    from runtime.secrets.kubernetes import _load_api_client

    trap = ProxyTrap()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server.url}"}}}}]
users: [{{name: u, user: {{token: {TOKEN}}}}}]
contexts: [{{name: ctx, context: {{cluster: c, user: u}}}}]
current-context: ctx
"""
    )
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The library reads KUBECONFIG when it is imported; the default location is its constant.
    monkeypatch.setattr(
        "kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)
    )
    monkeypatch.setattr(
        k8s_config,
        "load_incluster_config",
        lambda **_: (_ for _ in ()).throw(k8s_config.ConfigException("not in a pod")),
    )
    client = load_api_client() if loader == "executor" else _load_api_client()
    path = f"/api/v1/namespaces/{NS}/secrets/db"
    server.state.objects[path] = {"kind": "Secret", "data": {"value": "cHc="}}
    try:
        assert client.configuration.proxy is None
        assert KubeApi(lambda: client).request("GET", SECRETS, NS, "db")["data"] == {
            "value": "cHc="
        }
    finally:
        trap.close()
    assert trap.connections == 0
    assert server.state.seen[-1].path == path
    assert server.state.seen[-1].headers["authorization"] == f"Bearer {TOKEN}"
