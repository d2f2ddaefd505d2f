"""Small calls on the Kubernetes API the control plane's set-up and helpers share.

Server-side apply of large CRDs, "is this group/version served yet", create-or-replace, and the
name slugs used for roles, kubeconfigs and log files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from e2e.controlplane.errors import ControlPlaneError


def server_side_apply_crd(api: Any, text: str) -> str:
    """Server-side applies a CRD given as YAML text (as ``kubectl apply --server-side``).

    Returns the CRD's plural name.

    The full Argo CRDs are 2.5 MB of YAML each: too large for client-side apply's
    last-applied annotation, and slow to parse in pure Python (seconds per file), so the text
    goes to the apiserver as is and only the header is parsed here for the name.
    """
    name = yaml.safe_load(text.split("\nspec:", 1)[0])["metadata"]["name"]
    plural = str(name).split(".", 1)[0]
    serialized = api.param_serialize(
        method="PATCH",
        resource_path=f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
        query_params=[("fieldManager", "hybrid-runner-e2e"), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=text,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized, _request_timeout=120)
    response.read()
    if not 200 <= response.status < 300:
        raise ControlPlaneError(f"apply of CRD {name}: HTTP {response.status}: {response.data!r}")
    return plural


def served(api: Any, group_version_path: str) -> set[str]:
    """Resources served under ``/apis/<group>/<version>``: an Established CRD shows here.

    Cheap, unlike listing CRDs, which returns megabytes of schema.
    """
    response = api.call_api(
        *api.param_serialize(
            method="GET",
            resource_path=group_version_path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        ),
        _request_timeout=10,
    )
    response.read()
    if response.status != 200:
        return set()
    return {str(r["name"]) for r in json.loads(response.data)["resources"]}


def exists(read: Callable[[], object]) -> bool:
    from kubernetes import client as k8s

    try:
        read()
    except k8s.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def create_or_replace(create: Callable[[], object], replace: Callable[[], object]) -> None:
    from kubernetes import client as k8s

    try:
        create()
    except k8s.ApiException as e:
        if e.status != 409:
            raise
        replace()


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text.lower()).strip("-.")
