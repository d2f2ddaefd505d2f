"""The list+watch loop, driven through the kubernetes library's own Watch over fake streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
from urllib3.exceptions import ReadTimeoutError

from runtime.executors.kube.client import KubeCaller
from runtime.executors.kube.watch import ResourceWatcher
from runtime.kubeapi import rest as kube_rest
from runtime.wire.errors import Forbidden
from tests.runtime.executors.k8s_support import (
    ListWatch,
    api_error,
    autospec,
    event,
    gone,
    wait_until,
)

SELECTOR = "app.kubernetes.io/managed-by=hybrid-ingestion-runner,hybrid-runner.io/agent-id=agent-1"


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


def make_watcher(
    fake: ListWatch, recorder: Recorder, **options: Any
) -> tuple[ResourceWatcher, Any]:
    api = autospec(kube_rest.BatchV1)
    api.list_namespaced_job.side_effect = fake
    options.setdefault("backoff", 0.01)
    options.setdefault("max_backoff", 0.02)
    watcher = ResourceWatcher(
        name="jobs",
        list_fn=api.list_namespaced_job,
        list_args=("ingestion",),
        namespace="ingestion",
        resource="jobs.batch",
        label_selector=SELECTOR,
        on_sync=recorder.on_sync,
        on_event=recorder.on_event,
        caller=KubeCaller(attempts=1, timeout=3.0),
        **options,
    )
    return watcher, api


@pytest.fixture
def cleanup() -> Any:
    watchers: list[ResourceWatcher] = []
    yield watchers.append
    for watcher in watchers:
        watcher.stop(timeout=2)


def test_list_hands_items_to_sync_and_remembers_version() -> None:
    recorder = Recorder()
    fake = ListWatch([[obj("a", "5"), obj("b", "6")]])
    watcher, api = make_watcher(fake, recorder)
    assert watcher.list_now() == "101"
    assert recorder.syncs == [["a", "b"]]
    call = api.list_namespaced_job.call_args
    assert call.args == ("ingestion",)
    assert call.kwargs == {
        "label_selector": SELECTOR,
        "_request_timeout": 3.0,
        "limit": 500,
        "_preload_content": False,
    }
    assert watcher.healthy


def test_watch_delivers_events_in_order_and_resumes_from_last_version(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch(
        [[obj("a", "5")]],
        [
            [
                event("ADDED", obj("b", "120")),
                event("MODIFIED", obj("a", "121")),
                {
                    "type": "BOOKMARK",
                    "object": {"kind": "Job", "metadata": {"resourceVersion": "150"}},
                },
            ],
            [event("DELETED", obj("b", "151"))],
        ],
        hold=0.0,
    )
    watcher, _ = make_watcher(fake, recorder, watch_timeout=60)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(recorder.events) >= 3)
    assert recorder.events[:3] == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    first, second = fake.watch_calls[0], fake.watch_calls[1]
    assert first["resource_version"] == "101"
    assert first["label_selector"] == SELECTOR
    assert first["timeout_seconds"] == 60
    assert first["allow_watch_bookmarks"] is True
    # Connect within the caller's timeout; a read may wait at most the stall limit.
    assert first["_request_timeout"] == (3.0, 90.0)
    assert second["resource_version"] == "150", "the bookmark's version is where it resumes"
    assert len(fake.list_calls) == 1, "a stream that ends normally is resumed, not relisted"


def test_410_gone_relists_and_watches_from_the_new_version(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch(
        [[obj("a", "5")], [obj("a", "5"), obj("c", "300")]],
        [[event("ADDED", obj("b", "120")), gone()]],
    )
    watcher, _ = make_watcher(fake, recorder)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(recorder.syncs) >= 2 and len(fake.watch_calls) >= 2)
    assert watcher.relists_after_gone == 1
    assert recorder.syncs[:2] == [["a"], ["a", "c"]]
    assert recorder.events[0] == ("ADDED", "b")
    assert fake.watch_calls[1]["resource_version"] == "102"


def test_failures_back_off_and_recover(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch([api_error(503), api_error(403, "forbidden"), [obj("a", "5")]])
    watcher, _ = make_watcher(fake, recorder)
    cleanup(watcher)
    with pytest.raises(Exception, match="unavailable"):
        watcher.list_now()
    assert not watcher.healthy
    watcher.start()
    wait_until(lambda: recorder.syncs == [["a"]])
    assert watcher.failures >= 1
    wait_until(lambda: watcher.healthy)
    assert watcher.last_error is None


def test_forbidden_list_is_reported_as_last_error(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch([api_error(403, "cannot list jobs")])
    watcher, _ = make_watcher(fake, recorder, backoff=0.05, max_backoff=0.05)
    cleanup(watcher)
    with pytest.raises(Forbidden, match=r"lacks list on jobs\.batch in namespace ingestion"):
        watcher.list_now()
    watcher.start()
    wait_until(lambda: watcher.failures >= 1)
    assert "lacks list on jobs.batch" in (watcher.last_error or "")
    assert not watcher.healthy


def test_periodic_resync_lists_again(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch([[obj("a", "5")]], hold=0.01)
    watcher, _ = make_watcher(fake, recorder, resync_seconds=0.05)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(fake.list_calls) >= 3)


def test_stop_is_prompt_while_the_stream_is_held_open() -> None:
    recorder = Recorder()
    fake = ListWatch([[obj("a", "5")]], hold=30.0)
    watcher, _ = make_watcher(fake, recorder)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: len(fake.watch_calls) == 1)
    time.sleep(0.05)
    started = time.monotonic()
    watcher.stop(timeout=5)
    assert time.monotonic() - started < 1.0
    assert not watcher.running


def test_nudge_ends_a_long_backoff_at_once(cleanup: Any) -> None:
    recorder = Recorder()
    fake = ListWatch([api_error(503), [obj("a", "5")]], hold=30.0)
    # A backoff far longer than the test: only the nudge can bring the list in time.
    watcher, _ = make_watcher(fake, recorder, backoff=60.0, max_backoff=60.0)
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
    cleanup: Any,
) -> None:
    recorder = Recorder()
    silence = ReadTimeoutError(None, "/apis/batch/v1/namespaces/ingestion/jobs", "read timed out")  # type: ignore[arg-type]
    fake = ListWatch(
        [[obj("a", "5")]],
        [[event("ADDED", obj("b", "120")), silence], [event("DELETED", obj("b", "121"))]],
        hold=0.0,
    )
    watcher, _ = make_watcher(fake, recorder, stall_timeout=7.0)
    cleanup(watcher)
    watcher.list_now()
    watcher.start()
    wait_until(lambda: ("DELETED", "b") in recorder.events)
    assert fake.watch_calls[0]["_request_timeout"] == (3.0, 7.0)
    assert fake.watch_calls[1]["resource_version"] == "120", "resumed where the stream fell silent"
    assert len(fake.list_calls) == 1, "a silent stream is not a reason to list again"
    assert (watcher.stalls, watcher.failures) == (1, 0)
    assert watcher.healthy


def test_a_sync_that_stops_reading_still_ends_the_list_without_listing_twice() -> None:
    fake = ListWatch([[obj("a", "5"), obj("b", "6")]])

    class FirstOnly(Recorder):
        def on_sync(self, items: Iterable[dict[str, Any]]) -> None:
            self.syncs.append([next(iter(items))["metadata"]["name"]])

    recorder = FirstOnly()
    watcher, _api = make_watcher(fake, recorder)
    assert watcher.list_now() == "101"
    assert recorder.syncs == [["a"]]
    assert len(fake.list_calls) == 1
