"""Kubernetes API plumbing shared by the ``argo`` and ``simpleK8s`` executors.

Two things live here:

* ``load_api_client``: the in-cluster service account when the runner runs in a pod, else the
  kubeconfig (``KUBECONFIG`` or ``~/.kube/config``). Executors take an injectable ``ApiClient``
  (tests, the local control plane) and only load one on first use, so ``invoke --dry-run``
  renders manifests on a machine without any cluster.
* ``KubeCaller``: every API call goes through it. It adds an explicit ``_request_timeout``,
  retries what is worth retrying (429, 500, 502, 503, 504, connection errors and timeouts) with a
  bounded exponential backoff, and turns what is left into the runner's error types with a
  message an operator can act on: a 403 names the verb, the resource and the namespace the
  runner's Role is missing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import attrs
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from runtime.kubeapi.rest import direct_configuration
from runtime.wire.errors import (
    Conflict,
    ExecutorUnavailable,
    Forbidden,
    LaunchFailed,
    NotFound,
    RunnerError,
)

log = logging.getLogger(__name__)

#: Statuses after which the same call may succeed: throttling and server-side trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Transport failures: refused/reset connections, DNS, TLS handshakes, read timeouts.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def load_api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """An ``ApiClient`` for the cluster the runner is in, else for the current kubeconfig context.

    ``kubeconfig`` overrides the file; by default the kubernetes library uses ``KUBECONFIG``
    (which may list several files) or ``~/.kube/config``.
    """
    configuration = direct_configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        source = "in-cluster service account"
    except k8s_config.ConfigException:
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
        except (k8s_config.ConfigException, OSError, TypeError) as exc:
            raise ExecutorUnavailable(
                "cannot reach Kubernetes: not running in a pod with a service account, and no "
                f"usable kubeconfig (KUBECONFIG or ~/.kube/config): {exc}"
            ) from None
        source = "kubeconfig"
    # Two long-lived watch streams plus concurrent launches from the handler threads.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, 32)
    log.info("kubernetes API at %s (%s)", configuration.host, source)
    return k8s.ApiClient(configuration)


class LazyApiClient:
    """Loads the ``ApiClient`` on first use; thread-safe. An injected client is used as is."""

    def __init__(
        self,
        api_client: k8s.ApiClient | None = None,
        loader: Callable[[], k8s.ApiClient] = load_api_client,
    ) -> None:
        self._client = api_client
        self._loader = loader
        self._lock = threading.Lock()

    def get(self) -> k8s.ApiClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._loader()
        return self._client

    @property
    def loaded(self) -> bool:
        return self._client is not None


T = TypeVar("T")


def lazily(make: Callable[[], T]) -> Callable[[], T]:
    """``make()`` on the first call, the same object after (an API object made only when a
    request needs it: dry runs never contact a cluster)."""
    made: list[T] = []

    def get() -> T:
        if not made:
            made.append(make())
        return made[0]

    return get


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


class KubeCaller:
    """Runs one API call with a timeout, bounded retries and error mapping.

    ``attempts`` counts the first try. Between tries the delay doubles from ``backoff`` up to
    ``max_backoff``; with the defaults a failing call gives up after about 1.5 s, well inside
    the dispatcher's request timeout.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._failing = False
        self._recovery_listeners: list[Callable[[], None]] = []

    def on_recovery(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the calling thread) when a call succeeds after one gave up:
        the API server is back, and whoever is backing off can try again now."""
        self._recovery_listeners.append(listener)

    def _succeeded(self) -> None:
        if self._failing:
            self._failing = False
            for listener in self._recovery_listeners:
                listener()

    def __call__(
        self,
        op: Op,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """``fn(*args, **kwargs, _request_timeout=...)``, described by ``op``."""
        kwargs.setdefault("_request_timeout", timeout or self.timeout)
        delay = self.backoff
        last: str = ""
        for attempt in range(1, self.attempts + 1):
            try:
                result = fn(*args, **kwargs)
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
            if attempt < self.attempts:
                log.debug(
                    "%s failed (%s); retry %d/%d in %.2fs",
                    op,
                    last,
                    attempt,
                    self.attempts - 1,
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        self._failing = True
        raise ExecutorUnavailable(
            f"Kubernetes API unavailable: could not {op} after {self.attempts} attempts ({last})"
        )


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


_serializer: k8s.ApiClient | None = None


def to_dict(obj: Any) -> dict[str, Any]:
    """A client model (or a dict) as the JSON dict the API server speaks (camelCase keys)."""
    global _serializer
    if isinstance(obj, dict):
        return obj
    if _serializer is None:
        # Only its pure sanitize_for_serialization is used: no connection is ever made.
        _serializer = k8s.ApiClient()
    data = _serializer.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return data if isinstance(data, dict) else {}


def parse_time_ms(value: Any) -> int | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``) as epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000)


def get_path(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]...`` or None when any step is missing."""
    current = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(current, list) or len(current) <= key:
                return None
        elif not isinstance(current, dict):
            return None
        current = current[key] if isinstance(key, int) else current.get(key)
        if current is None:
            return None
    return current
