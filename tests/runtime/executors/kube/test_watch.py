"""The list+watch loop against the HTTP fake of the API server (tests/runtime/kube_api_server.py):
lists of the objects it holds, watch streams it sends in chunks as the API server does (ended,
held open, cut, or ended by an ERROR event), and the requests it recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from runtime.executors.kube.resources import ResourceApi
from runtime.executors.kube.watch import ResourceWatcher
from runtime.kubeapi.resource import JOBS
from runtime.wire.errors import Forbidden
from tests.runtime.executors.k8s_harness import no_sleep_api
from tests.runtime.executors.k8s_support import NAMESPACE, event, gone, wait_until
from tests.runtime.kube_api_server import CUT, KubeApiServer, serving

SELECTOR = "app.kubernetes.io/managed-by=hybrid-ingestion-runner,hybrid-runner.io/agent-id=agent-1"
PATH = JOBS.path(NAMESPACE)


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


class Recorder:
    def __init__(self) -> None:
        self.syncs: list[list[str]] = []
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def on_sync(self, items: Iterable[dict[str, Any]]) -> None:
        with self.lock:
            self.syncs.append([i["metadata"]["name"] for i in items])

    def on_event(self, kind: str, item: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((kind, item["metadata"]["name"]))


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    yield from serving()


@pytest.fixture
def cleanup() -> Iterator[Any]:
    watchers: list[ResourceWatcher] = []
    yield watchers.append
    for watcher in watchers:
        watcher.stop(timeout=2)


def holding(server: KubeApiServer, *objects: dict[str, Any]) -> None:
    """The cluster holds ``objects`` (Jobs in NAMESPACE) from now on."""
    for item in objects:
        server.put(f"{PATH}/{item['metadata']['name']}", item)


def make_watcher(server: KubeApiServer, recorder: Recorder, **options: Any) -> ResourceWatcher:
    options.setdefault("backoff", 0.01)
    options.setdefault("max_backoff", 0.02)
    return ResourceWatcher(
        name="jobs",
        api=ResourceApi(no_sleep_api(server, attempts=1, timeout=3.0), NAMESPACE),
        kind=JOBS,
        label_selector=SELECTOR,
        on_sync=recorder.on_sync,
        on_event=recorder.on_event,
        **options,
    )


def watch_timeouts(server: KubeApiServer) -> list[Any]:
    """The ``_request_timeout`` of each watch, in order: (connect, read) pairs."""
    return [t for t in server.state.timeouts if isinstance(t, tuple)]


def test_list_hands_items_to_sync_and_remembers_version(server: KubeApiServer) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"), obj("b", "6"))
    watcher = make_watcher(server, recorder)
    assert watcher.list_now() == "100"  # the list's own resourceVersion, not an item's
    assert recorder.syncs == [["a", "b"]]
    (seen,) = server.list_requests()
    assert seen.path == PATH
    assert seen.query == {"labelSelector": SELECTOR, "limit": "500"}
    assert server.state.timeouts == [3.0]
    assert watcher.healthy


def test_a_list_is_asked_for_in_pages_of_list_page(server: KubeApiServer) -> None:
    recorder = Recorder()
    holding(server, *(obj(name, "5") for name in "abcde"))
    watcher = make_watcher(server, recorder, list_page=2)
    assert watcher.list_now() == "102"  # the last page's
    assert recorder.syncs == [["a", "b", "c", "d", "e"]]
    assert [s.query for s in server.list_requests()] == [
        {"labelSelector": SELECTOR, "limit": "2"},
        {"labelSelector": SELECTOR, "limit": "2", "continue": "2"},
        {"labelSelector": SELECTOR, "limit": "2", "continue": "4"},
    ]


def test_watch_delivers_events_in_order_and_resumes_from_last_version(
    server: KubeApiServer, cleanup: Any
) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    bookmark = {
        "type": "BOOKMARK",
        "object": {"kind": "Job", "metadata": {"resourceVersion": "150"}},
    }
    server.watch_streams(
        PATH,
        [event("ADDED", obj("b", "120")), event("MODIFIED", obj("a", "121")), bookmark],
        [event("DELETED", obj("b", "151"))],
    )
    watcher = make_watcher(server, recorder, watch_timeout=60)
    cleanup(watcher)
    assert watcher.list_now() == "100"
    watcher.start()
    wait_until(lambda: len(recorder.events) >= 3)
    assert recorder.events[:3] == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    first, second = server.watch_requests()[:2]
    assert first.path == PATH
    assert first.query == {
        "watch": "true",
        "labelSelector": SELECTOR,
        "resourceVersion": "100",
        "timeoutSeconds": "60",
        "allowWatchBookmarks": "true",
    }
    # Connect within the API's timeout; a read may wait at most the stall limit.
    assert watch_timeouts(server)[0] == (3.0, 90.0)
    assert second.query["resourceVersion"] == "150", "the bookmark's version is where it resumes"
    assert len(server.list_requests()) == 1, "a stream that ends normally is resumed, not relisted"


@pytest.mark.parametrize("how", ["an ERROR event", "an answer"])
def test_410_gone_relists_and_watches_from_the_new_version(
    server: KubeApiServer, cleanup: Any, how: str
) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    if how == "an ERROR event":
        server.watch_streams(PATH, [event("ADDED", obj("b", "120")), gone()])
    else:
        server.fail(f"WATCH {PATH}", (410, "too old resource version: 100 (120)"))
    server.state.watch_hold = 10.0  # the watch after the relist stays open
    watcher = make_watcher(server, recorder)
    cleanup(watcher)
    watcher.list_now()
    holding(server, obj("c", "300"))  # created while the first watch was on
    watcher.start()
    wait_until(lambda: len(recorder.syncs) >= 2 and len(server.watch_requests()) >= 2)
    assert watcher.relists_after_gone == 1
    assert recorder.syncs[:2] == [["a"], ["a", "c"]]
    assert recorder.events == ([("ADDED", "b")] if how == "an ERROR event" else [])
    assert server.watch_requests()[1].query["resourceVersion"] == "101", "the relist's version"


def test_failures_back_off_and_recover(server: KubeApiServer, cleanup: Any) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.fail(PATH, (503, "etcd leader changed"), (403, "forbidden"))
    server.state.watch_hold = 10.0
    watcher = make_watcher(server, recorder)
    cleanup(watcher)
    with pytest.raises(Exception, match="unavailable"):
        watcher.list_now()
    assert not watcher.healthy
    watcher.start()
    wait_until(lambda: recorder.syncs == [["a"]])
    assert watcher.failures >= 1
    wait_until(lambda: watcher.healthy)
    assert watcher.last_error is None


def test_forbidden_list_is_reported_as_last_error(server: KubeApiServer, cleanup: Any) -> None:
    recorder = Recorder()
    server.state.errors[PATH] = (403, "cannot list jobs")
    watcher = make_watcher(server, recorder, backoff=0.05, max_backoff=0.05)
    cleanup(watcher)
    with pytest.raises(Forbidden, match=r"lacks list on jobs\.batch in namespace ingestion"):
        watcher.list_now()
    watcher.start()
    wait_until(lambda: watcher.failures >= 1)
    assert "lacks list on jobs.batch" in (watcher.last_error or "")
    assert not watcher.healthy


def test_periodic_resync_lists_again(server: KubeApiServer, cleanup: Any) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.state.watch_hold = 0.01
    watcher = make_watcher(server, recorder, resync_seconds=0.05)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(server.list_requests()) >= 3)


def test_stop_is_prompt_while_the_stream_is_held_open(server: KubeApiServer) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.state.watch_hold = 10.0  # far past the bound below: only stop() can end it
    watcher = make_watcher(server, recorder)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(server.watch_requests()) == 1)
    time.sleep(0.05)  # the watch is blocked on the socket
    started = time.monotonic()
    watcher.stop(timeout=5)
    assert time.monotonic() - started < 1.0
    assert not watcher.running
    assert len(server.watch_requests()) == 1


def test_nudge_ends_a_long_backoff_at_once(server: KubeApiServer, cleanup: Any) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.fail(PATH, (503, "etcd leader changed"))
    server.state.watch_hold = 10.0
    # A backoff far longer than the test: only the nudge can bring the list in time.
    watcher = make_watcher(server, recorder, backoff=60.0, max_backoff=60.0)
    cleanup(watcher)
    watcher.start()
    wait_until(lambda: watcher.failures == 1)
    assert recorder.syncs == []
    started = time.monotonic()
    watcher.nudge()
    wait_until(lambda: recorder.syncs == [["a"]])
    assert time.monotonic() - started < 5
    assert watcher.healthy


def test_a_silent_stream_is_dropped_and_watched_again_from_the_same_version(
    server: KubeApiServer, cleanup: Any
) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.watch_streams(
        PATH, [event("ADDED", obj("b", "120"))], [event("DELETED", obj("b", "121"))]
    )
    server.state.watch_hold = 10.0  # open and silent after its events: past the stall limit
    watcher = make_watcher(server, recorder, stall_timeout=0.4)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: ("DELETED", "b") in recorder.events)
    assert watch_timeouts(server)[0] == (3.0, 0.4)
    assert server.watch_requests()[1].query["resourceVersion"] == "120", (
        "resumed where the stream fell silent"
    )
    assert len(server.list_requests()) == 1, "a silent stream is not a reason to list again"
    assert (watcher.stalls, watcher.failures) == (1, 0)
    assert watcher.healthy


def test_a_cut_stream_is_watched_again_from_the_last_version(
    server: KubeApiServer, cleanup: Any
) -> None:
    recorder = Recorder()
    holding(server, obj("a", "5"))
    server.watch_streams(
        PATH, [event("ADDED", obj("b", "120")), CUT], [event("DELETED", obj("b", "121"))]
    )
    server.state.watch_hold = 10.0
    watcher = make_watcher(server, recorder)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: ("DELETED", "b") in recorder.events)
    assert recorder.events == [("ADDED", "b"), ("DELETED", "b")]
    assert server.watch_requests()[1].query["resourceVersion"] == "120"
    assert len(server.list_requests()) == 1, "a broken connection is not a reason to list again"
    assert (watcher.stalls, watcher.failures) == (0, 1)
    assert watcher.healthy and watcher.last_error is None


def test_a_sync_that_stops_reading_still_ends_the_list_without_listing_twice(
    server: KubeApiServer,
) -> None:
    holding(server, obj("a", "5"), obj("b", "6"))

    class FirstOnly(Recorder):
        def on_sync(self, items: Iterable[dict[str, Any]]) -> None:
            self.syncs.append([next(iter(items))["metadata"]["name"]])

    recorder = FirstOnly()
    watcher = make_watcher(server, recorder)
    assert watcher.list_now() == "100"
    assert recorder.syncs == [["a"]]
    assert len(server.list_requests()) == 1
