"""KubeCaller (timeouts, retries, error mapping) and client loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import urllib3
from kubernetes import client as k8s

from runtime.executors.kube import client as k8s_client
from runtime.executors.kube.client import (
    KubeCaller,
    LazyApiClient,
    Op,
    api_message,
    get_path,
    load_api_client,
    parse_time_ms,
    to_dict,
)
from runtime.kubeapi import rest as kube_rest
from runtime.wire.errors import Conflict, ExecutorUnavailable, Forbidden, LaunchFailed, NotFound
from tests.runtime.executors.k8s_support import api_error, autospec, no_sleep_caller

WHERE = Op("create", "workflows.argoproj.io", "ingestion")


def test_every_call_gets_an_explicit_timeout() -> None:
    fn = mock.Mock(return_value={"ok": 1})
    assert KubeCaller(timeout=7.5)(WHERE, fn, "a", b=1) == {"ok": 1}
    fn.assert_called_once_with("a", b=1, _request_timeout=7.5)
    KubeCaller()(WHERE, fn, timeout=2.0)
    assert fn.call_args.kwargs["_request_timeout"] == 2.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_retried_then_succeed(status: int) -> None:
    fn = mock.Mock(side_effect=[api_error(status), api_error(status), {"ok": 1}])
    caller = no_sleep_caller()
    assert caller(WHERE, fn) == {"ok": 1}
    assert fn.call_count == 3
    assert caller.sleeps == [0.2, 0.4]  # type: ignore[attr-defined]


def test_persistent_503_becomes_executor_unavailable_after_bounded_attempts() -> None:
    fn = mock.Mock(side_effect=api_error(503, "etcd leader changed"))
    caller = no_sleep_caller(attempts=4, backoff=0.5, max_backoff=1.0)
    with pytest.raises(ExecutorUnavailable) as info:
        caller(Op("create", "workflows.argoproj.io", "ingestion", "om-x"), fn)
    assert fn.call_count == 4
    assert caller.sleeps == [0.5, 1.0, 1.0]  # type: ignore[attr-defined]
    assert info.value.retryable is True
    assert "create workflows.argoproj.io om-x in namespace ingestion" in info.value.message
    assert "etcd leader changed" in info.value.message


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.MaxRetryError(None, "/apis", "connection refused"),  # type: ignore[arg-type]
        urllib3.exceptions.ProtocolError("connection reset"),
        urllib3.exceptions.ReadTimeoutError(None, "/apis", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "refused"),
    ],
)
def test_connection_errors_are_retried_then_unavailable(error: Exception) -> None:
    fn = mock.Mock(side_effect=error)
    with pytest.raises(ExecutorUnavailable):
        no_sleep_caller(attempts=3)(WHERE, fn)
    assert fn.call_count == 3


def test_403_names_verb_resource_and_namespace_without_retry() -> None:
    fn = mock.Mock(
        side_effect=api_error(
            403,
            'workflows.argoproj.io is forbidden: User "system:serviceaccount:x:runner" cannot '
            'create resource "workflows" in API group "argoproj.io" in the namespace "ingestion"',
        )
    )
    with pytest.raises(Forbidden) as info:
        no_sleep_caller()(WHERE, fn)
    assert fn.call_count == 1
    assert info.value.message.startswith(
        "the runner's Role lacks create on workflows.argoproj.io in namespace ingestion"
    )
    assert "system:serviceaccount:x:runner" in info.value.message


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (404, NotFound, "jobs.batch om-x not found in namespace ingestion"),
        (409, Conflict, "already exists"),
        (422, LaunchFailed, "spec.template: Invalid value"),
        (400, LaunchFailed, "the API server refused to create"),
        (401, Forbidden, "rejected the runner's credentials"),
    ],
)
def test_error_mapping(status: int, error: type[Exception], text: str) -> None:
    fn = mock.Mock(side_effect=api_error(status, "spec.template: Invalid value"))
    with pytest.raises(error) as info:
        no_sleep_caller()(Op("create", "jobs.batch", "ingestion", "om-x"), fn)
    assert text in str(info.value)
    assert fn.call_count == 1


def test_api_message_falls_back_to_reason() -> None:
    exc = k8s.ApiException(status=500, reason="Internal Server Error")
    assert api_message(exc) == "Internal Server Error"
    exc.body = "plain text body"
    assert api_message(exc) == "plain text body"


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


def test_to_dict_turns_models_into_api_json() -> None:
    job = k8s.V1Job(
        metadata=k8s.V1ObjectMeta(name="om-x", resource_version="12"),
        status=k8s.V1JobStatus(active=1),
    )
    assert to_dict(job) == {
        "metadata": {"name": "om-x", "resourceVersion": "12"},
        "status": {"active": 1},
    }
    assert to_dict({"a": 1}) == {"a": 1}


def test_small_helpers() -> None:
    assert parse_time_ms("2024-05-01T10:00:00Z") == 1714557600000
    assert parse_time_ms(None) is None
    assert parse_time_ms("not a time") is None
    assert get_path({"a": [{"b": 1}]}, "a", 0, "b") == 1
    assert get_path({"a": []}, "a", 0, "b") is None
    assert get_path({"a": "x"}, "a", "b") is None


def test_autospec_api_signature_is_enforced() -> None:
    # The executor tests rely on autospec catching a wrong call shape.
    api: Any = autospec(kube_rest.BatchV1)
    with pytest.raises(TypeError):
        api.delete_namespaced_job(name="x")
    assert {500, 503} <= k8s_client.RETRYABLE_STATUSES


def test_recovery_listeners_hear_the_first_success_after_a_give_up() -> None:
    heard: list[str] = []
    caller = no_sleep_caller(attempts=2)
    caller.on_recovery(lambda: heard.append("back"))
    ok = mock.Mock(return_value={"ok": True})
    caller(WHERE, ok)
    assert heard == [], "no outage yet: nothing to announce"
    with pytest.raises(ExecutorUnavailable):
        caller(WHERE, mock.Mock(side_effect=api_error(503)))
    # A refusal is an answer too: the API server is up again.
    with pytest.raises(Forbidden):
        caller(WHERE, mock.Mock(side_effect=api_error(403, "forbidden")))
    assert heard == ["back"]
    caller(WHERE, ok)
    assert heard == ["back"], "announced once per outage"
