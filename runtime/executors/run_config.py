"""The OpenMetadata server connection inside a run's config, and the runner settings it carries.

An ingestion run's config holds the connection its client uses to reach the server: at
``workflowConfig.openMetadataServerConfig`` in a pipeline's ``OpenMetadataWorkflowConfig``, at
``openMetadataServerConnection`` (and ``request.openMetadataServerConnection``) in a test
connection's automations Workflow. OpenMetadata's ``OpenMetadataConnection`` schema has
``enableVersionValidation`` (default true): with it the ingestion client asks the server for its
version when it starts and stops if its own version does not match.

``INGESTION_DISABLE_VERSION_VALIDATION`` (Collate's chart:
``config.ingestionPods.disableVersionValidation``) is that switch, set from the runner: when
true every run's connection gets ``enableVersionValidation: false``, for an ingestion image
pinned to another version than the server's (``DYNAMIC_INGESTION_VERSION_ENABLED=false``).
When false the config goes to the pod as the server sent it.
"""

from __future__ import annotations

import copy
from typing import Any

from runtime.executors.base import RunKind

ENABLE_VERSION_VALIDATION = "enableVersionValidation"


def server_connections(config: dict[str, Any], kind: RunKind) -> list[dict[str, Any]]:
    """The server connection objects of ``config`` (the objects themselves, to edit)."""
    if kind == "automation":
        found = [config.get("openMetadataServerConnection")]
        request = config.get("request")
        if isinstance(request, dict):
            found.append(request.get("openMetadataServerConnection"))
    else:
        workflow_config = config.get("workflowConfig")
        found = [
            workflow_config.get("openMetadataServerConfig")
            if isinstance(workflow_config, dict)
            else None
        ]
    return [c for c in found if isinstance(c, dict)]


def with_version_validation(
    config: dict[str, Any], kind: RunKind, *, disabled: bool
) -> dict[str, Any]:
    """``config`` unchanged, or when ``disabled`` a copy whose every server connection has
    ``enableVersionValidation: false`` (a pipeline's is created if the config has none)."""
    if not disabled:
        return config
    out = copy.deepcopy(config)
    if kind == "pipeline":
        workflow_config = out.setdefault("workflowConfig", {})
        if isinstance(workflow_config, dict):
            workflow_config.setdefault("openMetadataServerConfig", {})
    for connection in server_connections(out, kind):
        connection[ENABLE_VERSION_VALIDATION] = False
    return out
