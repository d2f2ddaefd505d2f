"""A Collate chart user's values.yaml installed on real pods (the kind tier): the drop-in promise.

``tests/helm/data/collate-values.yaml`` sets every key of Collate's public chart. It is installed
with the real ``helm`` and only the keys this cluster makes necessary are changed (``LOCAL``,
each with its reason), all of them keys a user edits for their own cluster anyway. The runner
then runs a pipeline in the separate ingestion namespace the file names, as the ServiceAccount
``ingestion``, under the file's node selector, and the monitoring objects the file enables
(ServiceMonitor, PrometheusRule, and a GrafanaDashboard because grafana-operator's API is served)
exist in the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from e2e.kind.backend import KubeBackend
from e2e.kind_tier.kind_kit import SMALL, Release, run_frame, serving
from e2e.runner_kit import AGENT, new_run_id
from tests.helm.helmkit import merge

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
COLLATE_VALUES: dict[str, Any] = yaml.safe_load(
    (REPO / "tests" / "helm" / "data" / "collate-values.yaml").read_text()
)
OPERATOR_CRDS = REPO / "e2e" / "kind" / "crds" / "operators.yaml"
NODE_LABEL = "acme.io/pool"


class CollateRelease(Release):
    """The Collate values file, changed only where this cluster requires it."""

    def __init__(self, kube: KubeBackend) -> None:
        super().__init__(kube, "simpleK8s", release="hybrid-ingestion-runner")
        self.ingestion_namespace = f"{self.namespace}-jobs"
        self.monitoring_namespace = f"{self.namespace}-mon"

    def values(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        repo, _, tag = self.kube.images["runner"].rpartition(":")
        ing_repo, _, ing_tag = self.kube.images["stand-in"].rpartition(":")
        local: dict[str, Any] = {
            # The images built here instead of Collate's registry (no registry, no AWS: the
            # ECR helper has nothing to log in to).
            "image": {"repository": repo, "tag": tag},
            "ecrRegistryHelper": {"enabled": False},
            # The test's server: its token, its address, no TLS (Collate's key for that).
            "config": {
                "agentId": AGENT,
                "authToken": next(iter(self.server.tokens)),
                "serverHost": self.server_address(),
                "useSecureProtocols": False,
                "dynamicIngestionVersionEnabled": "false",
                "ingestionPods": {
                    "namespace": self.ingestion_namespace,
                    "repository": ing_repo,
                    "tag": ing_tag,
                    # A 2-CPU node: Collate's 1 CPU / 4 GiB per pod would not schedule.
                    "resources": SMALL,
                    "automationResources": SMALL,
                },
            },
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            # No proxy on this network.
            "extraEnvs": [{"name": "TZ", "value": "UTC"}],
            "grafanaDashboard": {"namespace": self.monitoring_namespace},
        }
        return merge(COLLATE_VALUES, local)

    async def install(self, extra_env: dict[str, str] | None = None) -> None:
        kubectl = self.kube.kubectl
        await asyncio.to_thread(kubectl, "apply", "-f", str(OPERATOR_CRDS))
        await asyncio.to_thread(kubectl, "label", "node", "--all", f"{NODE_LABEL}=system")
        for namespace in (self.ingestion_namespace, self.monitoring_namespace):
            await asyncio.to_thread(self.kube.create_namespace, namespace)
        await asyncio.to_thread(self.kube.create_namespace, self.namespace)
        # What the file's envFrom and volumes refer to: the user's own ConfigMaps.
        for name in ("acme-proxy-settings", "corporate-ca"):
            await asyncio.to_thread(
                kubectl, "-n", self.namespace, "create", "configmap", name, "--from-literal=a=b"
            )
        await self.server.start(host=self.kube.server_host, port=0)
        await asyncio.to_thread(
            self.kube.helm_install, self.release, self.namespace, self.values(extra_env)
        )
        self.installed = True
        await self.server.wait_active(AGENT, timeout=120)

    async def uninstall(self) -> None:
        await super().uninstall()
        for namespace in (self.ingestion_namespace, self.monitoring_namespace):
            await asyncio.to_thread(self.kube.delete_namespace, namespace)
        with contextlib.suppress(RuntimeError):
            await asyncio.to_thread(self.kube.kubectl, "label", "node", "--all", f"{NODE_LABEL}-")

    def pods(self, run_id: str) -> list[dict[str, Any]]:
        selector = f"hybrid-runner.io/run-id={run_id}"
        found = self.kube.kubectl_json(
            "get", "pods", "-n", self.ingestion_namespace, "-l", selector
        )
        return list(found["items"])

    def describe(self) -> str:
        return f"{super().describe()}\n{self.kube.describe(self.ingestion_namespace)}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def release(kube: KubeBackend) -> AsyncIterator[CollateRelease]:
    async with serving(CollateRelease(kube)) as rel:
        yield rel


async def test_a_pipeline_runs_in_the_ingestion_namespace_as_ingestion(
    release: CollateRelease,
) -> None:
    run_id = new_run_id()
    reply = await release.request(run_frame(run_id, {"seconds": 1, "lines": 2, "env": True}))
    assert reply["ok"] is True, reply
    final = await release.wait_update(run_id, "success", "failed")
    assert final["state"] == "success", (final, await asyncio.to_thread(release.describe))
    (pod,) = await asyncio.to_thread(release.pods, run_id)
    assert pod["metadata"]["namespace"] == release.ingestion_namespace
    assert pod["spec"]["serviceAccountName"] == "ingestion"
    # customConfig, which Collate's chart sets in both modes, shapes the Job's pod too.
    main = next(c for c in pod["spec"]["containers"] if c["name"] == "main")
    assert {"name": "CUSTOM_ENV", "value": "custom_value"} in main["env"]
    assert any(t.get("value") == "dedicated-node-group" for t in pod["spec"]["tolerations"])
    log = await release.log_text(run_id)
    assert "stand-in: exiting with 0" in log, log


async def test_the_runner_pod_carries_the_files_placement_and_metadata(
    release: CollateRelease,
) -> None:
    (pod,) = await asyncio.to_thread(release.runner_pods)
    assert pod["spec"]["nodeSelector"] == {NODE_LABEL: "system"}
    assert pod["metadata"]["labels"]["team"] == "data-platform"  # commonLabels
    assert pod["metadata"]["annotations"]["acme.io/scrape"] == "true"
    mounts = {m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert "/etc/ssl/corporate" in mounts


async def test_monitoring_objects_install_with_the_operators_apis(
    release: CollateRelease,
) -> None:
    kubectl_json = release.kube.kubectl_json
    ns = release.namespace
    for kind in ("servicemonitors", "prometheusrules", "poddisruptionbudgets"):
        found = await asyncio.to_thread(kubectl_json, "get", kind, "-n", ns)
        assert [o["metadata"]["name"] for o in found["items"]] == [release.release], kind
    dashboards = await asyncio.to_thread(
        kubectl_json, "get", "grafanadashboards", "-n", release.monitoring_namespace
    )
    (dashboard,) = dashboards["items"]
    assert dashboard["spec"]["instanceSelector"] == {"matchLabels": {"dashboards": "grafana"}}
    ingestion_sa = await asyncio.to_thread(
        kubectl_json, "get", "serviceaccount", "ingestion", "-n", release.ingestion_namespace
    )
    assert ingestion_sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        "collate-ingestion"
    )
