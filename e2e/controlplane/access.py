"""Using the running cluster: admin API clients, namespaces, kubeconfigs for a user, a Role or
a ServiceAccount, and the fate and logs of simulated pods.

A mixin of ``LocalControlPlane`` (``cluster.py``), which owns the attributes declared here;
kept apart so the class's start-up and these helpers can each be read on their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from e2e.controlplane import kwok
from e2e.controlplane.kubeapi import exists, slug
from e2e.controlplane.kubeconfig import bind_role, service_account_token, write_kubeconfig
from e2e.controlplane.pki import CertificateAuthority


class ClusterAccess:
    """What tests call on a started ``LocalControlPlane`` to use it (not to start or break it)."""

    workdir: Path
    pki_dir: Path
    ports: dict[str, int]
    ca: CertificateAuthority | None
    _wait: Callable[..., None]

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (or for the given kubeconfig)."""
        from kubernetes import config as k8s_config

        return k8s_config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig_path)
        )

    @contextlib.contextmanager
    def _admin_api(self) -> Iterator[Any]:
        api = self.api_client()
        try:
            yield api
        finally:
            api.close()

    def create_namespace(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Creates a namespace and waits for its ``default`` ServiceAccount (pods need it)."""
        from kubernetes import client as k8s

        with self._admin_api() as api:
            core = k8s.CoreV1Api(api)
            body = {"metadata": {"name": name, "labels": dict(labels or {})}}
            try:
                core.create_namespace(body)
            except k8s.ApiException as e:
                if e.status != 409:
                    raise
            self._wait(
                f"ServiceAccount {name}/default",
                lambda: exists(lambda: core.read_namespaced_service_account("default", name)),
                timeout=30,
            )

    def kubeconfig_for_user(
        self,
        user: str,
        groups: Sequence[str] = (),
        *,
        namespace: str = "default",
        path: Path | None = None,
    ) -> Path:
        """A kubeconfig authenticating as ``user`` (client cert CN=user, O=groups)."""
        assert self.ca is not None
        pair = self.ca.issue(user, organizations=groups, client=True)
        path = path or self.workdir / "kubeconfigs" / f"user-{slug(user)}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_kubeconfig(
            path,
            server=self.server,
            ca_pem=self.ca.pair.cert_pem,
            user=user,
            client=pair,
            namespace=namespace,
        )

    def kubeconfig_for_role(
        self,
        namespace: str,
        user: str,
        *,
        rules: Sequence[Mapping[str, Any]] | None = None,
        role: str | None = None,
        cluster_role: bool = False,
    ) -> Path:
        """Binds ``user`` to a Role in ``namespace`` and returns a kubeconfig for that user.

        With ``rules`` a Role named ``role`` (default ``<user>``) is created (replaced if it
        exists); without, the existing Role (or ClusterRole with ``cluster_role=True``) named
        ``role`` is bound. The apiserver enforces it: anything else is refused with 403.
        """
        role = role or slug(user)
        with self._admin_api() as api:
            bind_role(api, namespace, user, rules=rules, role=role, cluster_role=cluster_role)
        return self.kubeconfig_for_user(user, namespace=namespace)

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, *, expiration_seconds: int = 3600
    ) -> Path:
        """A kubeconfig with a bound token (TokenRequest) for an existing ServiceAccount.

        Use it with the Role/RoleBinding a Helm chart renders for that ServiceAccount.
        """
        assert self.ca is not None
        with self._admin_api() as api:
            token = service_account_token(api, namespace, name, expiration_seconds)
        path = self.workdir / "kubeconfigs" / f"sa-{namespace}-{name}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_kubeconfig(
            path,
            server=self.server,
            ca_pem=self.ca.pair.cert_pem,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
            namespace=namespace,
        )

    def finish_pod(
        self,
        namespace: str,
        name: str,
        *,
        exit_code: int = 143,
        reason: str = "Error",
        message: str | None = None,
    ) -> None:
        """Ends a simulated running pod as if its containers exited (what a signal would do).

        Simulated pods ignore the ``pods/exec`` signals Argo sends on shutdown; this writes the
        terminated status a kubelet would (phase Failed, or Succeeded for exit code 0).
        """
        with self._admin_api() as api:
            kwok.finish_pod(api, namespace, name, exit_code, reason, message)

    def set_pod_logs(
        self,
        namespace: str,
        pod: str,
        text: str,
        *,
        containers: Sequence[str] = (),
    ) -> None:
        """What ``pods/log`` returns for a simulated pod (all containers, or those named).

        The apiserver fetches pod logs from the node's kubelet endpoint, which is kwok's server
        on 127.0.0.1; kwok serves the file a ``Logs`` object (kwok.x-k8s.io) names.
        """
        path = kwok.write_cri_log(self.workdir, f"pod-{namespace}-{pod}", text)
        with self._admin_api() as api:
            kwok.apply_object(api, kwok.pod_logs(namespace, pod, path, containers), namespaced=True)

    def set_namespace_logs(self, namespace: str, text: str) -> None:
        """What ``pods/log`` returns for every simulated pod of a namespace (``ClusterLogs``)."""
        path = kwok.write_cri_log(self.workdir, f"ns-{namespace}", text)
        with self._admin_api() as api:
            kwok.apply_object(api, kwok.namespace_logs(namespace, path), namespaced=False)
