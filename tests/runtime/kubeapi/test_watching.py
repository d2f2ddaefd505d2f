"""runtime.kubeapi.watching: one watch request read as ``(type, object)`` dicts, through a real
ApiClient and the HTTP fake of the API server (tests/runtime/kube_api_server.py), whose held
streams send their events at once, in chunks, as the API server does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import PODS
from runtime.kubeapi.watching import WatchStream
from tests.runtime.kube_api_server import CUT, KubeApiServer, serving

NS = "ingestion"
PATH = PODS.path(NS)
POD = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}
GONE = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    yield from serving()


def watch(server: KubeApiServer, **options: Any) -> tuple[WatchStream, Any]:
    """A stream of the pods in NS and the ApiClient it goes through."""
    api_client = server.api_client()
    settings: dict[str, Any] = {
        "label_selector": "agent=a",
        "resource_version": "5",
        "timeout_seconds": 30,
        "timeout": (3.0, 7.0),
        **options,
    }
    return WatchStream(KubeApi(lambda: api_client), PODS, NS, **settings), api_client


def all_released(api_client: Any, server: KubeApiServer) -> bool:
    """Every connection of the client's pool to ``server`` is back in it."""
    pool = api_client.rest_client.pool_manager.connection_from_url(server.url)
    return bool(pool.pool.qsize() == pool.pool.maxsize)


def test_a_watch_yields_type_and_object_dicts_and_asks_for_bookmarks(
    server: KubeApiServer,
) -> None:
    server.state.events[PATH] = [
        {"type": "ADDED", "object": POD},
        {"type": "DELETED", "object": POD},
    ]
    stream, api_client = watch(server)
    events = list(stream)
    assert events == [("ADDED", POD), ("DELETED", POD)]
    assert all(type(obj) is dict for _, obj in events)  # not client models
    (seen,) = server.watch_requests()
    assert seen.path == PATH
    assert seen.query == {
        "watch": "true",
        "labelSelector": "agent=a",
        "resourceVersion": "5",
        "timeoutSeconds": "30",
        "allowWatchBookmarks": "true",
    }
    assert server.state.timeouts == [(3.0, 7.0)]
    assert all_released(api_client, server)
    list(watch(server, resource_version=None)[0])
    assert "resourceVersion" not in server.watch_requests()[1].query  # from now on: not sent


def test_an_error_event_raises_the_api_exception_of_its_code(server: KubeApiServer) -> None:
    server.state.events[PATH] = [
        {"type": "ADDED", "object": POD},
        {"type": "ERROR", "object": GONE},
    ]
    stream, api_client = watch(server)
    read: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(ApiException) as caught:
        read.extend(stream)
    assert read == [("ADDED", POD)]
    assert caught.value.status == 410
    assert caught.value.reason == "Expired: too old"
    assert all_released(api_client, server)


def test_an_error_answer_raises_the_api_exception_with_the_status_message(
    server: KubeApiServer,
) -> None:
    server.state.errors[f"WATCH {PATH}"] = (403, 'pods is forbidden: cannot "watch"')
    stream, api_client = watch(server)
    with pytest.raises(ApiException) as caught:
        list(stream)
    assert caught.value.status == 403
    assert 'pods is forbidden: cannot \\"watch\\"' in str(caught.value.body)
    assert all_released(api_client, server)


def test_a_line_that_is_not_json_is_skipped(
    server: KubeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    not_json = b"<html>502 Bad Gateway</html>\n"
    server.watch_streams(
        PATH, [{"type": "ADDED", "object": POD}, not_json, {"type": "DELETED", "object": POD}]
    )
    assert list(watch(server)[0]) == [("ADDED", POD), ("DELETED", POD)]
    assert "not JSON; skipped: <html>502 Bad Gateway</html>" in caplog.text


def test_a_cut_stream_raises_the_transport_error_after_its_events(server: KubeApiServer) -> None:
    server.watch_streams(PATH, [{"type": "ADDED", "object": POD}, CUT])
    read: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(ProtocolError):
        read.extend(watch(server)[0])
    assert read == [("ADDED", POD)]


def test_close_from_another_thread_ends_a_held_stream_promptly(server: KubeApiServer) -> None:
    server.state.events[PATH] = [{"type": "ADDED", "object": POD}]
    server.state.watch_hold = 10.0  # far past the test: only close() can end the stream
    stream, api_client = watch(server, timeout=(3.0, 30.0))
    read: list[tuple[str, dict[str, Any]]] = []

    def consume() -> None:
        try:
            read.extend(stream)
        except ProtocolError:  # the shut socket, as the watch loop sees it
            pass

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while not read and time.monotonic() < deadline:
        time.sleep(0.005)
    assert read == [("ADDED", POD)]  # the stream is open, its reader blocked on the socket
    started = time.monotonic()
    stream.close()
    reader.join(5)
    assert not reader.is_alive()
    assert time.monotonic() - started < 1.0
    assert all_released(api_client, server)
