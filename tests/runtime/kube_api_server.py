"""A small HTTP server on 127.0.0.1 that answers like the Kubernetes API server, for the tests of
the runner's plain REST calls (runtime.kubeapi) and of the stores built on them.

It keeps objects by their API path, creates (409 for a name it holds; a ``uid`` and a
``resourceVersion`` as the API server adds them), replaces, merge-patches (RFC 7386) and
JSON-patches (RFC 6902) and deletes them, lists a collection (one path level below it, in
pages), streams watch events (one queued stream per watch request, optionally held open or cut
mid-stream), serves pod logs as text, answers a configured error as a ``Status`` object (always,
or for the next few requests of a path), and records every request (method, path, query,
headers, body) for the tests to read. A real ``ApiClient`` pointed at it
goes through the library's whole transport: URL building, auth headers, urllib3 and the error
types.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import jsonpatch
from kubernetes import client

TOKEN = "test-token-not-a-secret"
#: The last path segments that name a collection: a GET there lists, elsewhere it finds one.
COLLECTIONS = frozenset({"pods", "secrets", "jobs", "cronjobs", "workflows", "cronworkflows"})
#: In a queued watch stream: the connection is cut there (a read fails mid-stream).
CUT = "cut"


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
    #: key -> (HTTP status, Status message), answered to every request of it. A key is a path
    #: (any request but a watch), ``"METHOD path"``, or ``"WATCH path"`` (watches of it).
    errors: dict[str, tuple[int, str]] = attrs.Factory(dict)
    #: key (as ``errors``) -> answers for its next requests, one each (a transient 503, a 429),
    #: then as usual
    failures: dict[str, list[tuple[int, str]]] = attrs.Factory(dict)
    #: object path -> what a create of it answers and keeps instead of the body sent (an API
    #: server whose object moved on before the answer: a status, a uid)
    answers: dict[str, dict[str, Any]] = attrs.Factory(dict)
    #: collection path -> the next watches' streams, one per watch request: events, and
    #: ``CUT`` where the connection breaks; then ``events``
    watches: dict[str, list[list[Any]]] = attrs.Factory(dict)
    #: The ``_request_timeout`` of each request, as the client was given it (in order).
    timeouts: list[Any] = attrs.Factory(list)
    #: Seconds a watch stream stays open after its events (a server holding it open).
    watch_hold: float = 0.0
    #: collection path -> events streamed to a watch of it
    events: dict[str, list[dict[str, Any]]] = attrs.Factory(dict)
    seen: list[Seen] = attrs.Factory(list)
    #: Seconds every answer waits (a slow API server).
    delay: float = 0.0
    versions: Any = attrs.Factory(lambda: itertools.count(100))
    lock: threading.Lock = attrs.Factory(threading.Lock)


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
        watch = self.command == "GET" and query.get("watch") == "true"
        with self.state.lock:
            failure = self._failure(path, watch)
            stream = self._stream(path) if watch and failure is None else None
        if failure is not None:
            status, message = failure
            status_obj = {"kind": "Status", "status": "Failure", "message": message}
            self._answer(status, {**status_obj, "code": status})
        elif self.command == "GET" and path.endswith("/log"):
            self._answer(200, self.state.logs.get(path, "").encode(), "text/plain")
        elif watch:
            self._watch(stream or [])
        elif self.command == "GET" and path in self.state.objects:
            self._answer(200, self.state.objects[path])
        elif self.command == "GET" and path.rsplit("/", 1)[-1] in COLLECTIONS:
            self._list(path, query)
        elif self.command == "POST":
            self._create(path, body)
        elif self.command == "GET" or path not in self.state.objects:
            self._answer(404, {"kind": "Status", "message": f"{path} not found", "code": 404})
        elif self.command == "PUT":
            self.state.objects[path] = self._versioned(body)
            self._answer(200, self.state.objects[path])
        elif self.command == "PATCH":
            patch = self.headers.get("Content-Type", "")
            current = self.state.objects[path]
            if patch.startswith("application/json-patch"):
                patched = jsonpatch.apply_patch(current, body)
            else:
                patched = _merge(current, body)
            self.state.objects[path] = self._versioned(patched)
            self._answer(200, self.state.objects[path])
        else:  # DELETE
            self._answer(200, self.state.objects.pop(path))

    def _failure(self, path: str, watch: bool) -> tuple[int, str] | None:
        keys = [f"WATCH {path}"] if watch else [f"{self.command} {path}", path]
        for key in keys:
            queued = self.state.failures.get(key)
            if queued:
                return queued.pop(0)
        for key in keys:
            if key in self.state.errors:
                return self.state.errors[key]
        return None

    def _stream(self, path: str) -> list[Any]:
        queued = self.state.watches.get(path)
        if queued:
            return queued.pop(0)
        return list(self.state.events.get(path, []))

    def _versioned(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        metadata["resourceVersion"] = str(next(self.state.versions))
        return obj

    def _create(self, path: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if f"{path}/{name}" in self.state.objects:
            message = f'{path.rsplit("/", 1)[-1]} "{name}" already exists'
            self._answer(409, {"kind": "Status", "message": message, "code": 409})
            return
        answer = self.state.answers.pop(f"{path}/{name}", None)
        obj = self._versioned(answer if answer is not None else body)
        obj["metadata"].setdefault("uid", f"uid-{name}")
        self.state.objects[f"{path}/{name}"] = obj
        self._answer(201, obj)

    def _list(self, path: str, query: dict[str, str]) -> None:
        items = [
            obj for key, obj in sorted(self.state.objects.items()) if key.rsplit("/", 1)[0] == path
        ]
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or len(items) or 1)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": str(next(self.state.versions))}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        self._answer(200, {"kind": "List", "metadata": metadata, "items": page})

    def _watch(self, events: list[Any]) -> None:
        """The events as JSON lines, chunked as the API server streams a watch (an element that
        is ``bytes`` goes as it is: a line that is not JSON); then the stream stays open
        ``watch_hold`` seconds if set and ends with its last chunk. At ``CUT`` the connection
        closes without that chunk: the client's read fails."""
        cut = CUT in events
        lines = b"".join(
            e if isinstance(e, bytes) else json.dumps(e).encode() + b"\n"
            for e in itertools.takewhile(lambda e: e != CUT, events)
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if lines:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(lines), lines))
            self.wfile.flush()
            if not cut:
                time.sleep(self.state.watch_hold)
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client closed the stream (a stopped watch)
            pass
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
        # A short poll: shutdown() waits for it, and every test closes its server.
        serve = {"poll_interval": 0.02}
        threading.Thread(target=self._server.serve_forever, kwargs=serve, daemon=True).start()

    def api_client(self) -> Any:
        configuration = client.Configuration(host=self.url)
        configuration.api_key = {"BearerToken": TOKEN}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return _TimedClient(configuration, self.state.timeouts)

    def pod_log(self, namespace: str, pod: str, text: str) -> None:
        """What the pod's log reads (from now on)."""
        self.state.logs[f"/api/v1/namespaces/{namespace}/pods/{pod}/log"] = text

    def put(self, path: str, obj: dict[str, Any]) -> None:
        """Hold ``obj`` at ``path`` (as if created by someone else)."""
        self.state.objects[path] = copy.deepcopy(obj)

    def fail(self, key: str, *answers: tuple[int, str]) -> None:
        """The next requests of ``key`` (see ``KubeApiState.errors``) get ``answers``."""
        self.state.failures.setdefault(key, []).extend(answers)

    def watch_streams(self, path: str, *streams: list[Any]) -> None:
        """The next watches of the collection at ``path`` stream these, one each."""
        self.state.watches.setdefault(path, []).extend(list(s) for s in streams)

    def object_requests(self, method: str, collection: str, name: str | None = None) -> list[Seen]:
        """The ``method`` requests of the objects in ``collection`` (of ``name``'s only), not of
        the collection itself."""
        return [
            seen
            for seen in self.requests(method)
            if seen.path.startswith(collection + "/")
            and (name is None or seen.path == f"{collection}/{name}")
        ]

    def watch_requests(self, path_end: str = "") -> list[Seen]:
        return [s for s in self.requests("GET", path_end) if s.query.get("watch") == "true"]

    def list_requests(self, path_end: str = "") -> list[Seen]:
        return [
            s
            for s in self.requests("GET", path_end)
            if s.query.get("watch") != "true" and s.path.rsplit("/", 1)[-1] in COLLECTIONS
        ]

    def log_reads(self) -> list[Seen]:
        return self.requests("GET", "/log")

    def requests(self, method: str, path_end: str = "") -> list[Seen]:
        """The requests recorded with ``method`` whose path ends with ``path_end``."""
        return [s for s in self.state.seen if s.method == method and s.path.endswith(path_end)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serving() -> Iterator[KubeApiServer]:
    """A server for one test, closed after it: the body of a pytest fixture."""
    server = KubeApiServer()
    try:
        yield server
    finally:
        server.close()
