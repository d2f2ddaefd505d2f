"""The runner as a user installs it, on the kind tier: the project's chart in a fresh namespace,
connected to a ReferenceServer on the host, launching real pods.

``Release`` wraps one ``helm install`` (values as a user writes them, plus the test's server,
images and small resources) and the requests a test sends through the server. Blocking kubectl
and helm calls run in threads, so the server (in the test's event loop) keeps answering.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from e2e.kind.backend import KubeBackend
from e2e.runner_kit import AGENT, FQN_OK, new_server, pipeline_config

ReleaseT = TypeVar("ReleaseT", bound="Release")
SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
# OpenMetadata's packages take ~300 MB to import (Collate's default limit is 4 GiB).
OPENMETADATA = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
# Node taint of the Unschedulable scenario and the toleration the docs' configs give.
TAINT_VALUE = "kind-e2e"
#: The Secrets a release lets requests name (config.allowedSecretReferences: the Roles' exact
#: resourceNames); ``create_secret`` hands them out in turn, the missing ones stay missing.
ALLOWED_SECRETS = (
    *(f"e2e-db-{i}" for i in range(4)),
    *(f"e2e-om-{i}" for i in range(8)),
    "e2e-no-such-secret",
    "e2e-om-missing",
)
#: The Pod Security Standards profile every release namespace enforces: every pod the runner
#: causes (Argo's init and wait containers included) and the runner's own must pass it.
POD_SECURITY = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)
# Per pipeline type placement, as the Collate docs write it (README "Scheduling ingestion pods"):
# `profiler` pods get a memory limit the stand-in exceeds; `lineage` pods tolerate the taint.
OOM_LIMIT = {"requests": {"cpu": "50m", "memory": "48Mi"}, "limits": {"memory": "48Mi"}}
PIPELINE_TYPE_CONFIGS = {
    "argo": {
        "profiler": {"resources": OOM_LIMIT},
        "lineage": {"toleration": TAINT_VALUE},
    },
    "simpleK8s": {
        "profiler": {"resources": OOM_LIMIT},
        "lineage": {
            "tolerations": [
                {
                    "key": "dedicated",
                    "operator": "Equal",
                    "value": TAINT_VALUE,
                    "effect": "NoSchedule",
                }
            ]
        },
    },
}


def run_frame(
    run_id: str, stand_in: dict[str, Any], *, pipeline_type: str = "metadata", **extra: Any
) -> dict[str, Any]:
    config = pipeline_config(FQN_OK, run_id)
    config["standIn"] = stand_in
    return {
        "type": "run_pipeline",
        "runId": run_id,
        "pipelineType": pipeline_type,
        "pipelineFqn": FQN_OK,
        "config": config,
        **extra,
    }


class Release:
    """The chart installed in namespace ``self.namespace`` with a ReferenceServer of its own."""

    def __init__(
        self, kube: KubeBackend, executor: str, *, release: str = "hir", ingestion: str = "stand-in"
    ) -> None:
        self.kube = kube
        self.executor = executor
        self.ingestion = ingestion  # which of the session's images the ingestion pods run
        self.resources = OPENMETADATA if ingestion == "openmetadata" else SMALL
        self.release = release
        self.namespace = f"e2e-kind-{uuid.uuid4().hex[:8]}"
        self.server = new_server()
        self.installed = False
        self._secrets_made: list[str] = []
        #: How the reference server listens (a subclass serves TLS on a port chosen ahead).
        self.server_port = 0
        self.server_options: dict[str, Any] = {}

    def values(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        repo, _, tag = self.kube.images["runner"].rpartition(":")
        ing_repo, _, ing_tag = self.kube.images[self.ingestion].rpartition(":")
        variable = (
            "ARGO_PIPELINE_TYPE_CONFIGS"
            if self.executor == "argo"
            else "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
        )
        env = {
            "ALLOW_INSECURE_WS": "true",
            variable: json.dumps(PIPELINE_TYPE_CONFIGS[self.executor]),
            **(extra_env or {}),
        }
        return {
            "image": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"},
            "executor": self.executor,
            "config": {
                "agentId": AGENT,
                "authToken": next(iter(self.server.tokens)),
                # http:// -> the chart derives ws:// and http:// URLs; serverUrl is the exact
                # endpoint (the reference server's /ws path).
                "serverHost": "http://" + self.server_address(),
                "serverUrl": self.server.ws_url(self.kube.server_host),
                "secretsManager": "kubernetes",
                "allowedSecretReferences": list(ALLOWED_SECRETS),
                # The test's image tag, not one derived from the server's version.
                "dynamicIngestionVersionEnabled": False,
                "ingestionPods": {
                    "repository": ing_repo,
                    "tag": ing_tag,
                    # The scenarios' images that do not exist (an image pull failure).
                    "allowedImages": ["hybrid-runner-e2e/*"],
                    "resources": self.resources,
                    "automationResources": self.resources,
                },
            },
            "extraEnvs": [{"name": k, "value": v} for k, v in env.items()],
        }

    def server_address(self) -> str:
        return self.server.ws_url(self.kube.server_host).split("://", 1)[1].split("/", 1)[0]

    async def install(self, extra_env: dict[str, str] | None = None) -> None:
        # The kind network's gateway (or E2E_SERVER_HOST): reachable from the pods.
        await self.server.start(
            host=self.kube.server_host, port=self.server_port, **self.server_options
        )
        await asyncio.to_thread(self.kube.create_namespace, self.namespace)
        await asyncio.to_thread(
            self.kube.kubectl, "label", "namespace", self.namespace, *POD_SECURITY
        )
        await self.prepare_namespace()
        await asyncio.to_thread(
            self.kube.helm_install, self.release, self.namespace, self.values(extra_env)
        )
        self.installed = True
        await self.server.wait_active(AGENT, timeout=120)

    async def prepare_namespace(self) -> None:
        """What must exist in the namespace before the chart (a subclass's Secrets)."""

    async def upgrade(self, values: dict[str, Any]) -> None:
        """``helm upgrade`` with new values; returns once the new runner pod is connected."""
        await asyncio.to_thread(self.kube.helm_upgrade, self.release, self.namespace, values)
        await self.server.wait_active(AGENT, timeout=120)

    async def uninstall(self) -> None:
        if self.installed:
            await asyncio.to_thread(self.kube.helm_uninstall, self.release, self.namespace)
        await asyncio.to_thread(self.kube.delete_namespace, self.namespace)
        await self.server.stop()

    # -- requests and events ---------------------------------------------------------------

    async def request(self, frame: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        frame = {"id": f"req-{uuid.uuid4().hex[:10]}", **frame}
        return await self.server.request(AGENT, frame, timeout=timeout)

    async def wait_update(
        self, run_id: str, *states: str, reason: str | None = None, timeout: float = 180
    ) -> dict[str, Any]:
        def match(e: dict[str, Any]) -> bool:
            return (
                e["type"] == "run_update"
                and e.get("runId") == run_id
                and e["state"] in states
                and (reason is None or e.get("reason") == reason)
            )

        try:
            return await self.server.wait_event(AGENT, match, timeout=timeout)
        except TimeoutError as e:
            raise AssertionError(
                f"no run_update {states} {reason or ''} for {run_id} in {timeout:.0f} s; seen: "
                f"{self.updates(run_id)}\n{await asyncio.to_thread(self.describe)}"
            ) from e

    def updates(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.server.events(AGENT, "run_update") if e.get("runId") == run_id]

    def states(self, run_id: str) -> list[str]:
        return [str(e["state"]) for e in self.updates(run_id)]

    async def log_text(self, run_id: str) -> str:
        """The whole log through the `logs` message, paged as a server would."""
        text, after = "", "0"
        for _ in range(100):
            reply = await self.request({"type": "logs", "runId": run_id, "after": after})
            assert reply["ok"] is True, reply
            text += reply["result"]["content"]
            after = reply["result"].get("after")
            if not after or not reply["result"]["content"]:
                return text
        return text

    async def create_secret(self, prefix: str) -> tuple[str, str]:
        """A Secret in the release namespace holding a random canary under key ``value``, named
        by the next unused name of ``ALLOWED_SECRETS`` that starts with ``prefix``."""
        name = next(
            n for n in ALLOWED_SECRETS if n.startswith(f"{prefix}-") and n not in self._secrets_made
        )
        self._secrets_made.append(name)
        value = f"canary-{uuid.uuid4().hex}"
        await asyncio.to_thread(
            self.kube.kubectl,
            "-n",
            self.namespace,
            "create",
            "secret",
            "generic",
            name,
            f"--from-literal=value={value}",
        )
        return name, value

    # -- cluster view ------------------------------------------------------------------------

    def pods(self, run_id: str) -> list[dict[str, Any]]:
        return list(
            self.kube.kubectl_json(
                "get", "pods", "-n", self.namespace, "-l", f"hybrid-runner.io/run-id={run_id}"
            )["items"]
        )

    def config_of(self, run_id: str) -> str:
        """The config the run's pod reads: its Secret (named like its Job or Workflow)."""
        (pod,) = self.pods(run_id)
        (main,) = [c for c in pod["spec"]["containers"] if c["name"] == "main"]
        (entry,) = [e for e in main["env"] if e["name"] == "config"]
        ref = entry["valueFrom"]["secretKeyRef"]
        secret = self.kube.kubectl_json("-n", self.namespace, "get", "secret", ref["name"])
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def runner_pods(self) -> list[dict[str, Any]]:
        return list(
            self.kube.kubectl_json(
                "get",
                "pods",
                "-n",
                self.namespace,
                "-l",
                "app.kubernetes.io/name=hybrid-ingestion-runner",
            )["items"]
        )

    def describe(self) -> str:
        return f"{self.kube.describe(self.namespace)}\nevents: {self.server.events(AGENT)[-20:]}"


@contextlib.asynccontextmanager
async def installed(kube: KubeBackend, executor: str, **kw: Any) -> AsyncIterator[Release]:
    """A ``Release`` installed for the duration (a module-scoped fixture's body)."""
    async with serving(Release(kube, executor, **kw)) as release:
        yield release


@contextlib.asynccontextmanager
async def serving(release: ReleaseT) -> AsyncIterator[ReleaseT]:
    """``release`` (a ``Release`` or a subclass) installed for the duration, uninstalled after;
    a failed install prints what the cluster shows before it is cleaned up."""
    try:
        await release.install()
    except BaseException:
        print(await asyncio.to_thread(release.describe))
        await release.uninstall()
        raise
    try:
        yield release
    finally:
        await release.uninstall()
