"""What handlers use for secrets: preflight every reference, and configure the pod to resolve them.

The runner never reads a secret value. Preflight asks the store whether each referenced id exists
and is readable, concurrently and within a time limit, and caches answers briefly; the pod gets
the provider, the ``env`` loader and the variables that loader reads.
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from runtime.observability.metrics import Metrics
from runtime.secrets.base import SecretStore, find_references
from runtime.secrets.scope import SecretScope
from runtime.wire.errors import (
    InvalidSecretReference,
    RunnerError,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)

# A failure of several kinds is reported under the most actionable code.
_SEVERITY: tuple[type[RunnerError], ...] = (
    InvalidSecretReference,
    SecretNotFound,
    SecretForbidden,
    SecretStoreUnavailable,
)
CACHE_TTL_SECONDS = 30.0


class SecretsService:
    def __init__(
        self,
        store: SecretStore,
        metrics: Metrics,
        *,
        enabled: bool = True,
        timeout: float = 10.0,
        cache_ttl: float = CACHE_TTL_SECONDS,
        max_workers: int = 8,
        scope: SecretScope | None = None,
    ) -> None:
        self.store = store
        #: SECRETS_ALLOWED_REFERENCES: held even when the preflight itself is off.
        self.scope = scope or SecretScope(patterns=())
        self.metrics = metrics
        self.enabled = enabled
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="preflight")
        # secret id -> monotonic time it was last seen readable. Only successes are cached:
        # a secret created after a failed preflight must be found on the next attempt.
        self._ok_until: dict[str, float] = {}

    @property
    def provider(self) -> str:
        return self.store.provider

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def preflight(self, document: Any) -> int:
        """Check every ``secret:`` reference in ``document``; return how many were checked.

        Raises the most actionable RunnerError naming every failing reference and the backend;
        ``Refused`` (before the store is asked anything) for references outside the scope.
        """
        refs = list(find_references(document))
        self.scope.check(refs, getattr(self.store, "scope_names", lambda sid: (sid,)))
        if not refs or not self.enabled:
            return 0
        failures: list[tuple[str, str, RunnerError]] = []
        to_check: dict[str, list[str]] = {}
        now = time.monotonic()
        for path, secret_id in refs:
            problem = self.store.validate_id(secret_id)
            if problem is not None:
                failures.append((path, secret_id, InvalidSecretReference(problem)))
            elif self._ok_until.get(secret_id, 0.0) < now:
                to_check.setdefault(secret_id, []).append(path)
        futures = {self._pool.submit(self.store.check, sid): sid for sid in to_check}
        done, pending = wait(futures, timeout=self.timeout)
        for future in pending:
            future.cancel()
            sid = futures[future]
            error: RunnerError = SecretStoreUnavailable(f"no answer within {self.timeout:g}s")
            failures.extend((path, sid, error) for path in to_check[sid])
        for future in done:
            sid = futures[future]
            exc = future.exception()
            if exc is None:
                self._ok_until[sid] = time.monotonic() + self.cache_ttl
                self.metrics.secret_preflight.labels(self.store.backend, "ok").inc()
                continue
            if not isinstance(exc, RunnerError):
                exc = SecretStoreUnavailable(f"{type(exc).__name__}: {exc}")
            failures.extend((path, sid, exc) for path in to_check[sid])
        for _path, _sid, err in failures:
            self.metrics.secret_preflight.labels(self.store.backend, err.code).inc()
        if failures:
            raise _summarise(failures, self.store.backend)
        return len(refs)

    def pod_env(self) -> dict[str, str]:
        return self.store.pod_env()

    def configure_workflow_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """A copy of an OpenMetadataWorkflowConfig telling ingestion how to resolve references."""
        out = copy.deepcopy(config)
        workflow_config = out.setdefault("workflowConfig", {})
        if isinstance(workflow_config, dict):
            server = workflow_config.setdefault("openMetadataServerConfig", {})
            if isinstance(server, dict):
                self._set_provider(server)
        return out

    def configure_automation(self, workflow: dict[str, Any]) -> dict[str, Any]:
        """A copy of an automations Workflow entity with the same settings on its connections."""
        out = copy.deepcopy(workflow)
        server = out.get("openMetadataServerConnection")
        if isinstance(server, dict):
            self._set_provider(server)
        request = out.get("request")
        if isinstance(request, dict):
            request_server = request.get("openMetadataServerConnection")
            if isinstance(request_server, dict):
                self._set_provider(request_server)
        return out

    def _set_provider(self, server_connection: dict[str, Any]) -> None:
        server_connection["secretsManagerProvider"] = self.store.provider
        server_connection["secretsManagerLoader"] = "env"


def _summarise(failures: list[tuple[str, str, RunnerError]], backend: str) -> RunnerError:
    kind = min((type(err) for _, _, err in failures), key=_rank)
    details = "; ".join(f"secret:{sid} at {path}: {err.message}" for path, sid, err in failures)
    retryable = all(isinstance(err, SecretStoreUnavailable) for _, _, err in failures)
    return kind(f"secret preflight failed ({backend} store): {details}", retryable=retryable)


def _rank(kind: type[RunnerError]) -> int:
    for index, candidate in enumerate(_SEVERITY):
        if issubclass(kind, candidate):
            return index
    return len(_SEVERITY)
