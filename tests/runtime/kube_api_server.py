"""A small HTTP server on 127.0.0.1 that answers like the Kubernetes API server, for the tests of
the runner's plain REST calls (runtime.kubeapi) and of the stores built on them.

It keeps objects by their API path, creates (409 for a name it holds), replaces, merge-patches
and deletes them, lists a collection (one path level below it, in pages), streams watch events
(optionally holding the stream open), serves pod logs as text, answers a configured error as a
``Status`` object (always, or for the next few requests of a path), and records every request
(method, path, query, headers, body) for the tests to read. A real ``ApiClient`` pointed at it
goes through the library's whole transport: URL building, auth headers, urllib3 and the error
types.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
from kubernetes import client

TOKEN = "test-token-not-a-secret"
#: The last path segments that name a collection: a GET there lists, elsewhere it finds one.
COLLECTIONS = frozenset({"pods", "secrets", "jobs", "cronjobs", "workflows", "cronworkflows"})


@attrs.frozen
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@attrs.define
class KubeApiState:
    objects: dict[str, dict[str, Any]] = attrs.Factory(dict)
    logs: dict[str, str] = attrs.Factory(dict)
    #: path -> (HTTP status, Status message), answered to every request of it
    errors: dict[str, tuple[int, str]] = attrs.Factory(dict)
    #: path -> answers for its next requests, one each (a transient 503, a 429), then as usual
    failures: dict[str, list[tuple[int, str]]] = attrs.Factory(dict)
    #: The ``_request_timeout`` of each request, as the client was given it (in order).
    timeouts: list[Any] = attrs.Factory(list)
    #: Seconds a watch stream stays open after its events (a server holding it open).
    watch_hold: float = 0.0
    #: collection path -> events streamed to a watch of it
    events: dict[str, list[dict[str, Any]]] = attrs.Factory(dict)
    seen: list[Seen] = attrs.Factory(list)
    #: Seconds every answer waits (a slow API server).
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    state: KubeApiState

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _answer(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> tuple[str, dict[str, str], Any]:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.state.seen.append(Seen(self.command, url.path, query, headers, body))
        return url.path, query, body

    def _handle(self) -> None:
        path, query, body = self._record()
        if self.state.delay:
            time.sleep(self.state.delay)
        failure = self._failure(path)
        if failure is not None:
            status, message = failure
            status_obj = {"kind": "Status", "status": "Failure", "message": message}
            self._answer(status, {**status_obj, "code": status})
        elif self.command == "GET" and path.endswith("/log"):
            self._answer(200, self.state.logs.get(path, "").encode(), "text/plain")
        elif self.command == "GET" and query.get("watch") == "true":
            self._watch(path)
        elif self.command == "GET" and path in self.state.objects:
            self._answer(200, self.state.objects[path])
        elif self.command == "GET" and path.rsplit("/", 1)[-1] in COLLECTIONS:
            self._list(path, query)
        elif self.command == "POST":
            self._create(path, body)
        elif self.command == "GET" or path not in self.state.objects:
            self._answer(404, {"kind": "Status", "message": f"{path} not found", "code": 404})
        elif self.command == "PUT":
            self.state.objects[path] = body
            self._answer(200, body)
        elif self.command == "PATCH":
            self.state.objects[path] = _merge(self.state.objects[path], body)
            self._answer(200, self.state.objects[path])
        else:  # DELETE
            self._answer(200, self.state.objects.pop(path))

    def _failure(self, path: str) -> tuple[int, str] | None:
        queued = self.state.failures.get(path)
        if queued:
            return queued.pop(0)
        return self.state.errors.get(path)

    def _create(self, path: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if f"{path}/{name}" in self.state.objects:
            message = f'{path.rsplit("/", 1)[-1]} "{name}" already exists'
            self._answer(409, {"kind": "Status", "message": message, "code": 409})
            return
        self.state.objects[f"{path}/{name}"] = body
        self._answer(201, body)

    def _list(self, path: str, query: dict[str, str]) -> None:
        items = [
            obj for key, obj in sorted(self.state.objects.items()) if key.rsplit("/", 1)[0] == path
        ]
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or len(items) or 1)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": "42"}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        self._answer(200, {"kind": "List", "metadata": metadata, "items": page})

    def _watch(self, path: str) -> None:
        lines = b"".join(json.dumps(e).encode() + b"\n" for e in self.state.events.get(path, []))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if not self.state.watch_hold:
            self.send_header("Content-Length", str(len(lines)))
        self.end_headers()
        self.wfile.write(lines)
        if self.state.watch_hold:
            # No length: the stream ends when the connection closes, as a watch's does.
            self.wfile.flush()
            time.sleep(self.state.watch_hold)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


class _TimedClient(client.ApiClient):
    """A real ``ApiClient`` that notes each request's timeout (the server cannot see it)."""

    def __init__(self, configuration: Any, timeouts: list[Any]) -> None:
        super().__init__(configuration)
        self._timeouts = timeouts

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        self._timeouts.append(kwargs.get("_request_timeout"))
        return super().call_api(*args, **kwargs)


class KubeApiServer:
    """The server on a free port; ``api_client()`` is a real ``ApiClient`` pointed at it."""

    def __init__(self) -> None:
        self.state = KubeApiState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def api_client(self) -> Any:
        configuration = client.Configuration(host=self.url)
        configuration.api_key = {"BearerToken": TOKEN}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return _TimedClient(configuration, self.state.timeouts)

    def pod_log(self, namespace: str, pod: str, text: str) -> None:
        """What the pod's log reads (from now on)."""
        self.state.logs[f"/api/v1/namespaces/{namespace}/pods/{pod}/log"] = text

    def log_reads(self) -> list[Seen]:
        return self.requests("GET", "/log")

    def requests(self, method: str, path_end: str = "") -> list[Seen]:
        """The requests recorded with ``method`` whose path ends with ``path_end``."""
        return [s for s in self.state.seen if s.method == method and s.path.endswith(path_end)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
