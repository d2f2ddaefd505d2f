"""Logs of the Kubernetes executors' runs.

``logs(run_id, after)`` reads the live log of the run's pod (up to ``max_log_bytes``) while the
pod exists, else the captured tail, and returns one chunk of at most ``log_chunk_bytes`` from
byte offset ``after``. The tail of the ``main`` container's log is captured as soon as the pod
finishes, before TTLs or pod GC remove it, and kept (bounded) in its ``TrackedRun.log_tail``.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from runtime.executors.base import LOG_CHUNK_BYTES, LogChunk, log_chunk
from runtime.executors.kube.pod import MAIN_CONTAINER
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import PODS
from runtime.wire.errors import RunnerError

log = logging.getLogger(__name__)


@attrs.define(kw_only=True)
class PodLogs:
    """Reads the ``main`` container's log of a run's pod."""

    kube: KubeApi
    namespace: str
    tail_lines: int = 200
    tail_bytes: int = 64 * 1024
    max_bytes: int = 8 * 1024 * 1024

    def set_limits(self, tail_lines: int, tail_bytes: int, max_bytes: int) -> None:
        self.tail_lines, self.tail_bytes, self.max_bytes = tail_lines, tail_bytes, max_bytes

    def _read(self, pod_name: str, **limits: Any) -> Any:
        """``limits``: ``limitBytes``, ``tailLines``, as the API server names them."""
        query = {"container": MAIN_CONTAINER, **limits}
        return self.kube.request(
            "GET", PODS, self.namespace, pod_name, subresource="log", query=query, text=True
        )

    def live(self, pod_name: str) -> str | None:
        """The whole live log (up to ``max_bytes``), or None when it cannot be read."""
        try:
            return str(self._read(pod_name, limitBytes=self.max_bytes))
        except RunnerError as exc:
            log.debug("live log of %s unavailable: %s", pod_name, exc)
            return None

    def tail(self, pod_name: str) -> str | None:
        """The last lines of the log (bounded), or None when it cannot be read."""
        try:
            text = self._read(pod_name, tailLines=self.tail_lines, limitBytes=self.tail_bytes)
        except RunnerError as exc:
            log.debug("no log tail for pod %s: %s", pod_name, exc)
            return None
        return str(text or "")[-self.tail_bytes :]


def chunk(text: str, after: int, *, final: bool, limit: int = LOG_CHUNK_BYTES) -> LogChunk:
    """One chunk of ``text`` from byte ``after``."""
    data = text.encode("utf-8", "replace")
    start = max(0, after)
    window = data[start : start + limit]
    return log_chunk(window, start=start, total=len(data), final=final, limit=limit)
