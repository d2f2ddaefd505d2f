"""The Kubernetes executors' background work: a small pool for work a watch event asks for
(capturing a log tail, ending a failed workload) and the housekeeping thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


class Background:
    """A two-thread pool whose pending work can be waited for, and a periodic housekeeper."""

    def __init__(
        self, prefix: str, period: float, housekeeping: Callable[[], None], name: str
    ) -> None:
        self._period = period
        self._housekeeping = housekeeping
        self._name = name
        self._stopping = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=prefix)
        self._futures: set[Future[object]] = set()
        self._futures_lock = threading.Lock()

    def submit(self, fn: Callable[[], object]) -> None:
        try:
            future = self._pool.submit(fn)
        except RuntimeError:  # shut down: run inline rather than lose it
            fn()
            return
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[object]) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for the pending work; True if done."""
        with self._futures_lock:
            pending = list(self._futures)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def start_housekeeping(self) -> None:
        self._stopping.clear()
        self._housekeeper = threading.Thread(
            target=self._loop, name=f"{self._name}-housekeeping", daemon=True
        )
        self._housekeeper.start()

    def _loop(self) -> None:
        while not self._stopping.wait(self._period):
            try:
                self._housekeeping()
            except Exception:  # pragma: no cover - keep the loop alive
                log.exception("%s housekeeping failed", self._name)

    def stop(self) -> None:
        """Stop the housekeeper (the caller has stopped the watches) and the pool."""
        self._stopping.set()
        if self._housekeeper is not None:
            self._housekeeper.join(5.0)
            self._housekeeper = None
        self._pool.shutdown(wait=False, cancel_futures=True)
