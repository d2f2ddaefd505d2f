"""Kubeconfig files: the admin's, and ones for a user bound to a Role or a ServiceAccount.

The apiserver enforces RBAC, so a test that wants "what this Role allows" asks for a
kubeconfig here and gets 403 for anything else.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from e2e.controlplane.kubeapi import create_or_replace, slug
from e2e.controlplane.pki import KeyPair


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> Path:
    user_entry: dict[str, str] = {}
    if client is not None:
        user_entry["client-certificate-data"] = _b64(client.cert_pem)
        user_entry["client-key-data"] = _b64(client.key_pem)
    if token is not None:
        user_entry["token"] = token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [
            {"name": user, "context": {"cluster": "local", "user": user, "namespace": namespace}}
        ],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def bind_role(
    api: Any,
    namespace: str,
    user: str,
    *,
    rules: Sequence[Mapping[str, Any]] | None,
    role: str,
    cluster_role: bool,
) -> None:
    """Binds ``user`` to the Role (or ClusterRole) ``role`` in ``namespace``; with ``rules``
    the Role is created first (replaced if it exists)."""
    from kubernetes import client as k8s

    rbac = k8s.RbacAuthorizationV1Api(api)
    if rules is not None:
        body = {"metadata": {"name": role, "namespace": namespace}, "rules": list(rules)}
        create_or_replace(
            lambda: rbac.create_namespaced_role(namespace, body),
            lambda: rbac.replace_namespaced_role(role, namespace, body),
        )
    binding = {
        "metadata": {"name": f"{role}-{slug(user)}", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole" if cluster_role else "Role",
            "name": role,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    name = binding["metadata"]["name"]  # type: ignore[index]
    create_or_replace(
        lambda: rbac.create_namespaced_role_binding(namespace, binding),
        lambda: rbac.replace_namespaced_role_binding(name, namespace, binding),
    )


def service_account_token(api: Any, namespace: str, name: str, expiration_seconds: int) -> str:
    """A bound token (TokenRequest) for an existing ServiceAccount."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api)
    request = {"spec": {"audiences": [], "expirationSeconds": expiration_seconds}}
    token = core.create_namespaced_service_account_token(name, namespace, request)
    return str(token.status.token)
