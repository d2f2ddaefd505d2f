"""The config Secret of a run or a schedule: where the run's config lives instead of its spec.

A run's ``config`` carries the ingestion bot's token, so the Kubernetes executors never write it
into a Workflow, Job or their cron forms (``k8s_pod.env`` reads it with ``secretKeyRef``). The
Secret is named like its workload and owned by it, so Kubernetes' garbage collector deletes it
with its owner (TTL, kill, delete_pipeline, kubectl). The owner's uid exists only once it is
created, which is why workloads are created suspended and resumed after ``provide``.

The runner's Role needs ``create`` and ``update`` on secrets for this, never ``get``, ``list``
or ``patch``: a PUT answers with what it wrote, where those would answer with any Secret's data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from runtime.config.pods import IngestionPodSettings
from runtime.executors.kube.pod import CONFIG_KEY
from runtime.executors.kube.resources import ResourceApi
from runtime.kubeapi.resource import SECRETS
from runtime.wire.errors import Conflict, LaunchFailed

REDACTED = "(redacted: {size} bytes of the run's config)"
UNKNOWN_UID = "(the owner's uid, known once it is created)"


def secret_manifest(
    settings: IngestionPodSettings,
    *,
    name: str,
    config: dict[str, Any],
    labels: dict[str, str],
    owner: Mapping[str, Any] | None = None,
    redact: bool = False,
) -> dict[str, Any]:
    """The Secret holding a run's (or a schedule's) config, owned by its workload ``owner``
    (the created object: the garbage collector deletes the Secret with it). ``redact``: what a
    dry run prints (the data's size only; the owner's uid is not known before it exists)."""
    text = json.dumps(config, separators=(",", ":"))
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": settings.ingestion_namespace,
        "labels": dict(labels),
    }
    if owner is not None:
        owner_meta = owner.get("metadata") or {}
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner.get("apiVersion"),
                "kind": owner.get("kind"),
                "name": owner_meta.get("name", name),
                "uid": owner_meta.get("uid") or UNKNOWN_UID,
            }
        ]
    data = REDACTED.format(size=len(text.encode())) if redact else text
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": {CONFIG_KEY: data},
    }


@attrs.define
class ConfigSecrets:
    """Creates (or replaces) the config Secret of one workload."""

    api: ResourceApi
    settings: IngestionPodSettings
    #: Dry runs print the data's size only (``invoke --reveal-config`` turns it off).
    redact_renders: bool = True

    def provide(
        self, owner: Mapping[str, Any], config: dict[str, Any], labels: dict[str, str]
    ) -> None:
        """The Secret of ``owner`` (the created object, with its uid) holding ``config``. An
        existing one (a re-sent launch, a redeployed schedule) is replaced whole."""
        metadata = owner.get("metadata") or {}
        name = str(metadata.get("name"))
        if not metadata.get("uid"):
            # A created object always has one; without it the Secret would outlive its run.
            raise LaunchFailed(f"the API server returned {owner.get('kind')} {name} without a uid")
        body = secret_manifest(self.settings, name=name, config=config, labels=labels, owner=owner)
        try:
            self.api.create(SECRETS, body)
        except Conflict:
            # PUT, not PATCH: a patch answers with the whole stored object, so the ``patch``
            # verb on secrets would let the runner read any Secret; ``update`` returns only
            # what it wrote.
            self.api.replace(SECRETS, name, body)

    def render(
        self, owner: Mapping[str, Any], config: dict[str, Any], labels: dict[str, str]
    ) -> dict[str, Any]:
        """What ``provide`` would send, with the data redacted (dry runs)."""
        name = str((owner.get("metadata") or {}).get("name"))
        return secret_manifest(
            self.settings,
            name=name,
            config=config,
            labels=labels,
            owner=owner,
            redact=self.redact_renders,
        )
