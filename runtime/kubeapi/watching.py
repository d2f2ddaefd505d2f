"""One watch request to the API server, read as ``(type, object)`` pairs of plain JSON dicts.

A watch is a GET of a collection with ``watch=true``: the API server answers with one JSON
event per line (``{"type": "ADDED", "object": {...}}``) and keeps the response open until its
``timeoutSeconds`` end. The client library's ``Watch`` would deserialise every object into
models only for the runner to turn them back into dicts (and in its raw mode it cannot report
an ERROR event such as 410 Gone), so the runner reads the lines itself, splitting them with the
library's ``iter_resp_lines``, over the same ``KubeApi.send`` as every other request.

An ERROR event is raised as the ``ApiException`` it stands for (status from its ``code``), so a
410 reads the same whether the API server answered the request with it or said it mid-stream.
``close()`` may be called from another thread: it shuts the socket, which ends a blocked read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from runtime.kubeapi.request import TRANSPORT_ERRORS, KubeApi, Timeout
from runtime.kubeapi.resource import Resource

log = logging.getLogger(__name__)


class WatchStream:
    """The events of one watch of ``resource`` in ``namespace``; iterate it once."""

    def __init__(
        self,
        api: KubeApi,
        resource: Resource,
        namespace: str,
        *,
        label_selector: str,
        resource_version: str | None,
        timeout_seconds: int,
        timeout: Timeout,
    ) -> None:
        self._api = api
        self._path = resource.path(namespace)
        self._query = {
            "watch": True,
            "labelSelector": label_selector,
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": True,
        }
        self._timeout = timeout
        self._response: Any = None
        #: Set by close(), from any thread.
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events as they come; ``ApiException`` for an ERROR event or an error answer."""
        self._response = self._api.send(
            "GET", self._path, query=self._query, stream=True, timeout=self._timeout
        )
        try:
            if self._closed.is_set():  # closed while the request was on its way: nothing shut it
                return
            for line in iter_resp_lines(self._response):  # type: ignore[no-untyped-call]
                if self._closed.is_set():
                    return
                event = _event(line)
                if event is not None:
                    yield event
        except TRANSPORT_ERRORS:
            if not self._closed.is_set():  # a read that close() cut short is no failure
                raise
        finally:
            self._release()

    def close(self) -> None:
        """End the stream now (from any thread): a read blocked on the socket returns."""
        self._closed.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # best effort: the socket may be gone already
                log.debug("shutting a watch stream's socket failed", exc_info=True)

    def _release(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
            response.release_conn()


def _event(line: str) -> tuple[str, dict[str, Any]] | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        log.warning("a watch sent a line that is not JSON; skipped: %.200s", line)
        return None
    if not isinstance(event, dict):
        log.warning("a watch sent a line that is not an event; skipped: %.200s", line)
        return None
    kind = str(event.get("type", ""))
    obj = event.get("object")
    obj = obj if isinstance(obj, dict) else {}
    if kind == "ERROR":
        reason = f"{obj.get('reason') or 'Error'}: {obj.get('message') or ''}"
        raise ApiException(status=obj.get("code") or 500, reason=reason)
    return kind, obj
