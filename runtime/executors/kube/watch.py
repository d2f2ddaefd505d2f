"""List + watch of one resource kind under the runner's label selector, on its own thread.

The classic informer loop, small enough to read in one go:

1. **list** (``label_selector``, in pages; ``k8s_listing``) -> every object now, and the list's
   ``resourceVersion``;
   ``on_sync(items)`` reads them as the pages come (one page in memory at a time) and lets the
   executor rebuild its view (objects that vanished while nobody watched are noticed here);
2. **watch** from that ``resourceVersion`` with a server-side ``timeout_seconds`` and bookmarks;
   each ADDED / MODIFIED / DELETED goes to ``on_event(type, obj)``; when the server ends the
   stream the loop watches again from the last ``resourceVersion`` it saw;
   A stream on which nothing at all arrives for ``stall_timeout`` (the API server sends a
   bookmark at least once a minute) is a connection that died without a word, as when a NAT
   or proxy forgets it: it is dropped and watched again from the same resourceVersion;
3. **410 Gone** (the resourceVersion is older than etcd's history) -> list again; so does the
   periodic resync (``resync_seconds``), which bounds how long a missed event can stay missed;
4. any other failure (API server down, 5xx, 403 while RBAC is being fixed) -> wait with an
   exponential backoff (``backoff`` doubling up to ``max_backoff``, +-20% jitter so that the
   watchers of many runners do not retry in step) and start over at 1. ``nudge()`` cuts the
   wait short: the executor calls it when another API call succeeds, so a watch resumes as
   soon as the API server is back rather than when its backoff runs out.

Objects reach the callbacks as the API server's JSON dicts (camelCase), whatever the kind.
``stop()`` ends the thread promptly: it sets the stop flag and shuts the stream's socket.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

from runtime.executors.kube.client import get_path
from runtime.executors.kube.listing import LIST_PAGE, Slim, slim_pod, slim_workload
from runtime.executors.kube.resources import ResourceApi
from runtime.kubeapi.request import TRANSPORT_ERRORS
from runtime.kubeapi.resource import PODS, Resource
from runtime.kubeapi.watching import WatchStream
from runtime.wire.errors import RunnerError

log = logging.getLogger(__name__)

#: Gets the listed objects as an iterable read page by page (``k8s_listing.Listing``).
SyncCallback = Callable[[Iterable[dict[str, Any]]], None]
EventCallback = Callable[[str, dict[str, Any]], None]


class ResourceWatcher:
    """One resource kind (Workflows, Jobs or Pods) in one namespace under one label selector."""

    def __init__(
        self,
        *,
        name: str,
        api: ResourceApi,
        kind: Resource,
        label_selector: str,
        on_sync: SyncCallback,
        on_event: EventCallback,
        watch_timeout: int = 300,
        stall_timeout: float = 90.0,
        resync_seconds: float = 900.0,
        backoff: float = 1.0,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        slim: Slim = lambda obj: obj,
        list_page: int = LIST_PAGE,
    ) -> None:
        self.name = name
        #: What a list keeps of each object, and how many objects one list call asks for.
        self._slim = slim
        self.list_page = list_page
        self._api = api
        self.kind = kind
        self.label_selector = label_selector
        self._on_sync = on_sync
        self._on_event = on_event
        self.watch_timeout = watch_timeout
        self.stall_timeout = stall_timeout
        #: Streams dropped for silence (tests and health).
        self.stalls = 0
        self.resync_seconds = resync_seconds
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._stop = threading.Event()
        #: Set by stop() and nudge(): ends a backoff wait early.
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: WatchStream | None = None
        self._resource_version: str | None = None
        self._last_sync = 0.0
        #: Counters for health and tests.
        self.lists = 0
        self.relists_after_gone = 0
        self.failures = 0
        self.healthy = False
        self.last_error: str | None = None

    # -- list ------------------------------------------------------------------------------

    def list_now(self) -> str | None:
        """List, hand the items to ``on_sync`` and remember the resourceVersion to watch from.

        Raises the runner's errors (ExecutorUnavailable, Forbidden, NotFound) unchanged.
        """

        listing = self._api.listing(
            self.kind, self._slim, label_selector=self.label_selector, page=self.list_page
        )
        self._on_sync(listing)
        for _ in listing:  # what a sync left unread, so that the watch starts from the end
            pass
        self._resource_version = listing.resource_version
        self._last_sync = self._clock()
        self.lists += 1
        self.healthy = True
        self.last_error = None
        return self._resource_version

    @property
    def resource(self) -> str:
        """The RBAC name, as messages say it: ``jobs.batch``, ``pods``."""
        return self.kind.rbac

    @property
    def namespace(self) -> str:
        return self._api.namespace

    # -- thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Retry now if backing off (the API server answered someone else)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        delay = self.backoff
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if (
                    self._resource_version is None
                    or self._clock() - self._last_sync >= self.resync_seconds
                ):
                    self.list_now()
                    if self._stop.is_set():
                        break
                self._watch_once()
                delay = self.backoff
            except ApiException as exc:
                if exc.status == 410:
                    log.info("%s watch expired (410 Gone); listing again", self.name)
                    self._resource_version = None
                    self.relists_after_gone += 1
                    continue
                self._failed(f"HTTP {exc.status}: {exc.reason}", delay)
                delay = min(delay * 2, self.max_backoff)
            except (RunnerError, *TRANSPORT_ERRORS) as exc:  # type: ignore[misc]
                self._failed(f"{type(exc).__name__}: {exc}", delay)
                delay = min(delay * 2, self.max_backoff)
            except Exception as exc:
                log.exception("%s watch loop failed unexpectedly", self.name)
                self._failed(f"{type(exc).__name__}: {exc}", delay)
                delay = min(delay * 2, self.max_backoff)
        self.healthy = False

    def _failed(self, error: str, delay: float) -> None:
        self.failures += 1
        self.healthy = False
        self.last_error = error
        if self._stop.is_set():
            return
        delay *= random.uniform(0.8, 1.2)
        log.warning("%s watch failed (%s); retrying in %.1fs", self.name, error, delay)
        self._wake.wait(delay)

    def _watch_once(self) -> None:
        stream = WatchStream(
            self._api.kube,
            self.kind,
            self.namespace,
            label_selector=self.label_selector,
            resource_version=self._resource_version,
            timeout_seconds=self.watch_timeout,
            # (connect, read): the read limit is per socket read, so it bounds silence.
            timeout=(self._api.kube.timeout, self.stall_timeout),
        )
        self._stream = stream
        if self._stop.is_set():  # stopped before the stream was there to close
            return
        try:
            self._consume(stream)
        except ReadTimeoutError:
            # Not a failure of the API server: watch again at once, from where we were.
            self.stalls += 1
            log.warning(
                "%s watch stream silent for %.0fs (connection lost on the way?); watching again",
                self.name,
                self.stall_timeout,
            )
        finally:
            self._stream = None

    def _consume(self, stream: WatchStream) -> None:
        for kind, obj in stream:
            if self._stop.is_set():
                break
            version = get_path(obj, "metadata", "resourceVersion")
            if version:
                self._resource_version = str(version)
            self.healthy = True
            self.last_error = None
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._on_event(kind, obj)
            if self._clock() - self._last_sync >= self.resync_seconds:
                break


def workload_and_pod_watchers(
    *,
    prefix: str,
    workloads: tuple[Resource, SyncCallback, EventCallback],
    pods: tuple[SyncCallback, EventCallback],
    **common: Any,
) -> tuple[ResourceWatcher, ResourceWatcher]:
    """An executor's two watches, named after it (``prefix``): its workloads (the kind and
    its callbacks) and their pods, each object slimmed to what is read of it."""
    kind, on_workloads, workload_event = workloads
    on_pods, pod_event = pods
    workload_watcher = ResourceWatcher(
        name=f"{prefix}-{kind.kind.lower()}s",
        kind=kind,
        on_sync=on_workloads,
        on_event=workload_event,
        slim=slim_workload,
        **common,
    )
    pod_watcher = ResourceWatcher(
        name=f"{prefix}-pods",
        kind=PODS,
        on_sync=on_pods,
        on_event=pod_event,
        slim=slim_pod,
        **common,
    )
    return workload_watcher, pod_watcher
