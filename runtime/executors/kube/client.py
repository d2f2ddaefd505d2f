"""The ``argo`` and ``simpleK8s`` executors' API client, and readers of the objects it returns.

* ``load_api_client``: the in-cluster service account when the runner runs in a pod, else the
  kubeconfig (``KUBECONFIG`` or ``~/.kube/config``). ``LazyApiClient`` loads it on first use,
  so ``invoke --dry-run`` renders manifests on a machine without any cluster; every request
  goes through ``runtime.kubeapi.request.KubeApi`` over it (tests hand the executor a
  ``KubeApi`` of their own).
* ``get_path`` and ``parse_time_ms``: a field of an API object's JSON, and its timestamps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubernetes import client as k8s

from runtime.kubeapi.loading import NoConfiguration, load_configuration
from runtime.wire.errors import ExecutorUnavailable

log = logging.getLogger(__name__)


def load_api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """An ``ApiClient`` for the cluster the runner is in, else for the current kubeconfig context.

    ``kubeconfig`` overrides the file; by default the kubernetes library uses ``KUBECONFIG``
    (which may list several files) or ``~/.kube/config``.
    """
    try:
        configuration, source = load_configuration(kubeconfig)
    except NoConfiguration as exc:
        raise ExecutorUnavailable(
            "cannot reach Kubernetes: not running in a pod with a service account, and no "
            f"usable kubeconfig (KUBECONFIG or ~/.kube/config): {exc}"
        ) from None
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
