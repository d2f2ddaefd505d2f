"""The executors' client loading (in cluster, else the kubeconfig; lazily) and the readers of
API objects. Requests, their retries and their errors are KubeApi's: tests/runtime/kubeapi."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from runtime.executors.kube.client import (
    LazyApiClient,
    get_path,
    load_api_client,
    parse_time_ms,
)
from runtime.wire.errors import ExecutorUnavailable


@pytest.fixture
def outside_cluster() -> Any:
    from kubernetes import config as k8s_config

    with mock.patch.object(
        k8s_config, "load_incluster_config", side_effect=k8s_config.ConfigException("no SA")
    ) as patched:
        yield patched


@pytest.mark.usefixtures("outside_cluster")
def test_load_api_client_falls_back_to_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: ingestion}}]
current-context: ctx
"""
    )
    client = load_api_client(str(kubeconfig))
    assert client.configuration.host == "https://127.0.0.1:6443"
    assert client.configuration.connection_pool_maxsize >= 32


@pytest.mark.usefixtures("outside_cluster")
def test_load_api_client_without_any_config_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ExecutorUnavailable, match="KUBECONFIG"):
        load_api_client(str(tmp_path / "absent"))


def test_lazy_client_loads_once_and_injected_client_is_used_as_is() -> None:
    loader = mock.Mock(return_value=mock.sentinel.client)
    lazy = LazyApiClient(loader=loader)
    assert not lazy.loaded
    assert lazy.get() is mock.sentinel.client
    assert lazy.get() is mock.sentinel.client
    loader.assert_called_once_with()
    injected = LazyApiClient(mock.sentinel.injected, loader=loader)
    assert injected.get() is mock.sentinel.injected


def test_small_helpers() -> None:
    assert parse_time_ms("2024-05-01T10:00:00Z") == 1714557600000
    assert parse_time_ms(None) is None
    assert parse_time_ms("not a time") is None
    assert get_path({"a": [{"b": 1}]}, "a", 0, "b") == 1
    assert get_path({"a": []}, "a", 0, "b") is None
    assert get_path({"a": "x"}, "a", "b") is None
