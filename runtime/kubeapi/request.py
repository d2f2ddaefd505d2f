"""The one way a request reaches the Kubernetes API server: ``KubeApi``.

The kubernetes package's generated API classes (``CoreV1Api``, ``BatchV1Api``,
``CustomObjectsApi``) import, when first built, every model their methods name: about 250
pydantic models and 85 MB of RSS for ``CoreV1Api`` alone (docs/performance.md, section 9), for a
runner that reads a dozen fields of a few kinds of object. So the runner keeps the library for
what it does well (kubeconfig and in-cluster configuration, bearer token refresh, client
certificates, TLS, urllib3's pool, ``ApiException``) and sends its requests through
``ApiClient.param_serialize`` and ``call_api`` to the path a ``Resource`` builds, reading the
answers as JSON dicts (text for a pod's log; the open response for a watch).

``KubeApi.send`` is one attempt. ``KubeApi.request`` adds an explicit ``_request_timeout``,
retries what is worth retrying (429, 500, 502, 503, 504, connection errors and timeouts) with a
bounded exponential backoff, and turns what is left into the runner's error types with a
message an operator can act on: a 403 names the verb, the resource and the namespace the
runner's Role is missing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import urllib3
from kubernetes.client.exceptions import ApiException

from runtime.kubeapi.resource import Resource
from runtime.wire.errors import (
    Conflict,
    ExecutorUnavailable,
    Forbidden,
    LaunchFailed,
    NotFound,
    RunnerError,
)

log = logging.getLogger(__name__)

JSON = "application/json"
#: Statuses after which the same call may succeed: throttling and server-side trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Transport failures: refused/reset connections, DNS, TLS handshakes, read timeouts.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
    OSError,
)
#: The RBAC verb of each HTTP method (a GET of a collection is a ``list``).
_VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

Timeout = float | tuple[float, float]


@attrs.frozen
class Op:
    """What an API call does, for retries' log lines and error messages."""

    verb: str
    resource: str
    namespace: str
    name: str | None = None

    def __str__(self) -> str:
        what = f"{self.resource} {self.name}" if self.name else self.resource
        return f"{self.verb} {what} in namespace {self.namespace}"


class KubeApi:
    """Requests to one API server, through the ``ApiClient`` that ``client()`` returns (called on
    each request, so that a client is loaded only when a request needs it).

    ``attempts`` counts the first try. Between tries the delay doubles from ``backoff`` up to
    ``max_backoff``; with the defaults a failing call gives up after about 1.5 s, well inside
    the dispatcher's request timeout.
    """

    def __init__(
        self,
        client: Callable[[], Any] | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._client = client
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._failing = False
        self._recovery_listeners: list[Callable[[], None]] = []

    def client(self) -> Any:
        """The ``ApiClient`` (loaded now if it is loaded lazily: what loading raises, this
        raises, e.g. no kubeconfig and no service account)."""
        if self._client is None:
            raise RuntimeError("this KubeApi has no ApiClient to send with")
        return self._client()

    def on_recovery(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the calling thread) when a call succeeds after one gave up:
        the API server is back, and whoever is backing off can try again now."""
        self._recovery_listeners.append(listener)

    def request(
        self,
        method: str,
        resource: Resource,
        namespace: str,
        name: str | None = None,
        *,
        subresource: str | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        text: bool = False,
        timeout: Timeout | None = None,
    ) -> Any:
        """One request, retried and its failure mapped. ``name``: the object's; a create
        (a POST without ``subresource``) goes to the collection, and ``name`` names the new
        object in its errors. A GET without a name is a list, as RBAC names it."""
        what = f"{resource.rbac}/{subresource}" if subresource else resource.rbac
        lists = method == "GET" and name is None and subresource is None
        op = Op("list" if lists else _VERBS[method], what, namespace, name)
        creates = method == "POST" and subresource is None
        path = resource.path(namespace, None if creates else name, subresource)
        return self.retrying(
            op,
            lambda: self.send(
                method,
                path,
                query=query,
                body=body,
                content_type=content_type,
                text=text,
                timeout=timeout or self.timeout,
            ),
        )

    def retrying(self, op: Op, attempt: Callable[[], Any]) -> Any:
        """``attempt()`` until it succeeds, fails for good, or the attempts run out."""
        delay = self.backoff
        last: str = ""
        for number in range(1, self.attempts + 1):
            try:
                result = attempt()
            except ApiException as exc:
                if exc.status not in RETRYABLE_STATUSES:
                    self._succeeded()  # the API server answered: it is up
                    raise map_api_error(exc, op) from None
                last = f"HTTP {exc.status}: {api_message(exc)}"
            except TRANSPORT_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                self._succeeded()
                return result
            if number < self.attempts:
                log.debug(
                    "%s failed (%s); retry %d/%d in %.2fs",
                    op,
                    last,
                    number,
                    self.attempts - 1,
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        self._failing = True
        raise ExecutorUnavailable(
            f"Kubernetes API unavailable: could not {op} after {self.attempts} attempts ({last})"
        )

    def _succeeded(self) -> None:
        if self._failing:
            self._failing = False
            for listener in self._recovery_listeners:
                listener()

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        text: bool = False,
        stream: bool = False,
        timeout: Timeout | None = None,
    ) -> Any:
        """One attempt: the library adds the auth header and TLS; an error answer raises
        ``ApiException``. The answer is JSON (a dict), text, or with ``stream`` the open urllib3
        response (a watch, or a list read page by page without models)."""
        api_client = self.client()
        headers = {"Accept": "*/*" if text else JSON}
        if body is not None:
            headers["Content-Type"] = content_type or JSON
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        prepared = api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(*prepared, _request_timeout=timeout)
        if stream:
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            return response.response
        data = response.read() or b""
        if not 200 <= response.status <= 299:
            body = data.decode("utf-8", "replace")
            raise ApiException.from_response(http_resp=response, body=body, data=None)
        if text:
            return data.decode("utf-8", "replace")
        # Parsed from the bytes: a decoded copy of a 500-object list page is megabytes more
        # at the peak of a re-adoption, and the allocator keeps the peak.
        return json.loads(data) if data else {}


def api_message(exc: ApiException) -> str:
    """The API server's own explanation (``Status.message``), else the HTTP reason."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            decoded = json.loads(body)
        except ValueError:
            return body.strip()[:500]
        if isinstance(decoded, dict) and decoded.get("message"):
            return str(decoded["message"])
    return str(exc.reason or f"HTTP {exc.status}")


def map_api_error(exc: ApiException, op: Op) -> RunnerError:
    """The runner error for a non-retryable API failure."""
    message = api_message(exc)
    verb, resource, namespace, name = op.verb, op.resource, op.namespace, op.name
    status = exc.status
    if status == 403:
        return Forbidden(
            f"the runner's Role lacks {verb} on {resource} in namespace {namespace} "
            f"(API server: {message})"
        )
    if status == 401:
        return Forbidden(
            "the Kubernetes API server rejected the runner's credentials (401 Unauthorized); "
            "check the service account token or kubeconfig"
        )
    if status == 404:
        what = f"{resource} {name}" if name else resource
        return NotFound(f"{what} not found in namespace {namespace} ({message})")
    if status == 409:
        return Conflict(f"{resource} {name} already exists in namespace {namespace} ({message})")
    if status in (400, 422):
        return LaunchFailed(f"the API server refused to {op}: {message}")
    return ExecutorUnavailable(
        f"could not {op}: HTTP {status}: {message}",
        retryable=False,
    )
