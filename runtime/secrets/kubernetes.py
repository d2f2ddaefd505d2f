"""Kubernetes Secrets as the secret store (``SECRETS_MANAGER=kubernetes``, the default).

OpenMetadata's ``kubernetes`` secrets manager reads key ``value`` of the Secret named by the
reference, in ``KUBERNETES_NAMESPACE``. The runner checks the same Secret with its own service
account before launching, so a typo fails in a second instead of in a pod minutes later.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes import client

    from runtime.kubeapi.request import KubeApi

from runtime.wire.errors import SecretForbidden, SecretNotFound, SecretStoreUnavailable

#: The key OpenMetadata's Kubernetes secrets manager reads from the Secret.
VALUE_KEY = "value"
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME = 253


class KubernetesSecretStore:
    """Checks that ``secret:<name>`` is a Secret in the ingestion namespace with key ``value``."""

    provider = "kubernetes"
    backend = "kubernetes"

    def __init__(
        self,
        namespace: str,
        *,
        api_client: client.ApiClient | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        self.namespace = namespace
        self._api_client = api_client
        self._timeout = (connect_timeout, read_timeout)
        self._api: KubeApi | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KubernetesSecretStore(namespace={self.namespace!r})"

    def validate_id(self, secret_id: str) -> str | None:
        if len(secret_id) <= _MAX_NAME and _DNS1123_SUBDOMAIN.fullmatch(secret_id):
            return None
        return (
            f"{secret_id!r} is not a Kubernetes Secret name (lowercase letters, digits, '-' and "
            f"'.', at most {_MAX_NAME} characters; no '/'). Write the Secret's name, e.g. "
            "secret:my-db-password for a Secret created with `kubectl create secret generic "
            f"my-db-password --from-literal={VALUE_KEY}=... -n {self.namespace}`"
        )

    def check(self, secret_id: str) -> None:
        # Imported here: the kubernetes client costs ~30 MiB, and a runner whose requests hold no
        # reference (or that runs the local executor) never needs it.
        import urllib3
        from kubernetes.client.exceptions import ApiException

        from runtime.kubeapi.resource import SECRETS

        api = self._kube_api()
        where = f"Secret {secret_id!r} in namespace {self.namespace!r}"
        try:
            # One attempt (``send``, not ``request``): preflight wants a prompt answer, and the
            # store maps its errors itself, naming the secret reference rather than an op.
            secret = api.send("GET", SECRETS.path(self.namespace, secret_id), timeout=self._timeout)
        except ApiException as exc:
            raise self._api_error(exc, secret_id, where) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # urllib3's text names the host and the reason only, never a response body.
            raise SecretStoreUnavailable(
                f"cannot reach the Kubernetes API to read {where}: {type(exc).__name__}: {exc}"
            ) from None
        except Exception as exc:
            # The message of an unexpected error (e.g. an answer that is not JSON) may quote the
            # response, which holds the secret's data: keep only the type.
            raise SecretStoreUnavailable(f"reading {where} failed: {type(exc).__name__}") from None
        # Only whether key ``value`` is there is looked at; the data goes out of scope with this
        # frame, and the refusal names no other key (the server learns nothing of the Secret).
        data = secret.get("data") if isinstance(secret, dict) else None
        has_value = isinstance(data, dict) and VALUE_KEY in data
        del data
        del secret
        if not has_value:
            raise SecretNotFound(
                f"{where} has no key {VALUE_KEY!r}; OpenMetadata reads key {VALUE_KEY!r}, e.g. "
                f"`kubectl create secret generic {secret_id} --from-literal={VALUE_KEY}=...`"
            )

    def pod_env(self) -> dict[str, str]:
        # Without KUBERNETES_IN_CLUSTER=true OpenMetadata looks for a kubeconfig in the pod.
        return {"KUBERNETES_IN_CLUSTER": "true", "KUBERNETES_NAMESPACE": self.namespace}

    def _kube_api(self) -> KubeApi:
        # Plain REST, not the client's CoreV1Api: that one imports some 250 models (85 MB).
        from runtime.kubeapi.request import KubeApi

        with self._lock:
            if self._api is None:
                api_client = self._api_client or _load_api_client()
                self._api = KubeApi(lambda: api_client)
            return self._api

    def _api_error(self, exc: Any, secret_id: str, where: str) -> Exception:
        status = exc.status or 0
        detail = _status_message(exc)
        if status == 404:
            return SecretNotFound(
                f"no {where}; create it with `kubectl create secret generic {secret_id} "
                f"--from-literal={VALUE_KEY}=... -n {self.namespace}`"
            )
        if status == 403:
            return SecretForbidden(
                f"the runner may not read {where}: RBAC must allow verb 'get' on resource "
                f"'secrets' in namespace {self.namespace!r} for the runner's service account"
                + (f" ({detail})" if detail else "")
            )
        if status == 401:
            return SecretForbidden(
                f"the Kubernetes API rejected the runner's credentials while reading {where}"
                + (f" ({detail})" if detail else "")
            )
        # Status 0 is the client's own failure (e.g. TLS) before any HTTP answer.
        answer = f"HTTP {status}" if status else "no HTTP answer"
        reason = f": {exc.reason}" if exc.reason else ""
        return SecretStoreUnavailable(
            f"the Kubernetes API gave {answer}{reason} while reading {where}"
            + (f" ({detail})" if detail else "")
        )


def _load_api_client() -> client.ApiClient:
    """In-cluster configuration (the runner's pod), else the local kubeconfig."""
    from kubernetes import client

    from runtime.kubeapi.loading import NoConfiguration, load_configuration

    try:
        configuration, _source = load_configuration()
    except NoConfiguration as exc:
        raise SecretStoreUnavailable(
            f"no Kubernetes configuration: not running in a pod and no usable kubeconfig ({exc})",
            retryable=False,
        ) from None
    # urllib3 would retry a refused connection three times; preflight wants a prompt answer.
    configuration.retries = 1
    return client.ApiClient(configuration)


def _status_message(exc: Any) -> str:
    """The ``message`` of the API server's Status object (an error reply, never secret data)."""
    if not exc.body:
        return ""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message[:500] if isinstance(message, str) else ""
