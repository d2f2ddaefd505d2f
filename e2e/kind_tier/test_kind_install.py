"""README's "Install with Helm", run as written on the kind tier.

The values file, the `helm install` command, the checks of step 4 and the token Secret variant
are read from README.md itself, so a README edit that breaks them fails here. What the test
substitutes, and only that: the bot JWT (the reference server's token) and the instance host
(the reference server on the kind network's gateway, as an ``http://`` host because it speaks
plain ``ws://``). A second values file adds only what a test cluster needs: that ws:// is allowed.
The runner image is the chart's default, ``hybrid-ingestion-runner:<appVersion>`` (what
``just image`` builds), loaded into the cluster under that name.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.kind.backend import CHART, CHART_DEFAULT_IMAGE, REPO, run
from e2e.runner_kit import eventually
from runtime.devkit.reference_server import ReferenceServer

pytestmark = [pytest.mark.timeout(900)]
README = REPO / "README.md"
NAMESPACE = "argo-workflows"


def install_section() -> str:
    text = README.read_text()
    start = text.index("## Install with Helm")
    return text[start : text.index("\n## ", start + 1)]


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def readme_commands() -> dict[str, Any]:
    section = install_section()
    yamls, shells = blocks(section, "yaml"), blocks(section, "sh")
    install = next(line for b in shells for line in b.splitlines() if "helm install" in line)
    secret = next(line for b in shells for line in b.splitlines() if "create secret" in line)
    return {
        "values": yaml.safe_load(textwrap.dedent(yamls[0])),
        "install": shlex.split(install.strip()),
        "secret": shlex.split(secret.strip()),
        "secret_values": next(
            doc
            for doc in (yaml.safe_load(textwrap.dedent(b)) for b in yamls)
            if "authTokenSecret" in (doc.get("config") or {})
        ),
    }


def substitute(values: dict[str, Any], token: str, host: str) -> dict[str, Any]:
    text = yaml.safe_dump(values)
    assert "<bot JWT>" in text or "authTokenSecret" in text, text
    return yaml.safe_load(text.replace("<bot JWT>", token).replace("acme.getcollate.io", host))


async def test_readme_install_with_helm_works_as_written(kube: Any, tmp_path: Path) -> None:
    steps = readme_commands()
    assert steps["install"][:3] == ["helm", "install", "my-runner"], steps["install"]
    assert steps["install"][3] == "./helm" and NAMESPACE in steps["install"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    # No image values: the chart's default is the image the session loaded under that name.
    assert f"hybrid-ingestion-runner:{app_version}" == CHART_DEFAULT_IMAGE

    server = ReferenceServer({"readme-" + "x" * 20: None}, heartbeat_seconds=30)
    await server.start(host=kube.server_host, port=0)
    token = next(iter(server.tokens))
    host = f"http://{kube.server_host}:{server.port}"
    values = substitute(steps["values"], token, host)
    agent = values["config"]["agentId"]
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"extraEnvs": [{"name": "ALLOW_INSECURE_WS", "value": "true"}]})
    )

    # README's relative paths: values.yaml here, ./helm the repository's chart.
    (tmp_path / "helm").symlink_to(CHART)

    def sh(argv: list[str]) -> str:
        """A README command line, with the session's helm and kubectl, in that folder."""
        tool = {"helm": kube.helm_bin, "kubectl": kube.kubectl_bin}[argv[0]]
        return run([tool, *argv[1:]], env=kube.env, timeout=600, cwd=tmp_path)

    try:
        # Step 3, from the repository root as README's paths assume.
        await asyncio.to_thread(sh, [*steps["install"], "-f", "test.yaml"])
        await _step_4_checks(kube, server, agent, sh)

        # The token from an existing Secret instead of the values file.
        secret = [a.replace("<bot JWT>", token) for a in steps["secret"]]
        await asyncio.to_thread(sh, secret)
        with_secret = substitute({**values, **steps["secret_values"]}, token, host)
        with_secret["config"] = {**values["config"], **steps["secret_values"]["config"]}
        with_secret["config"].pop("authToken")
        (tmp_path / "values-secret.yaml").write_text(yaml.safe_dump(with_secret))
        await asyncio.to_thread(sh, UPGRADE_WITH_SECRET)
        deployment = await asyncio.to_thread(
            kube.kubectl_json, "get", "deployment", "-n", NAMESPACE
        )
        assert token not in str(deployment), "the token is in the Deployment"
        await eventually("the runner reconnected with the Secret's token", lambda: ready_pod(kube))
        await server.wait_active(agent, timeout=120)
    except BaseException:
        print(await asyncio.to_thread(kube.describe, NAMESPACE))
        raise
    finally:
        await asyncio.to_thread(kube.helm_uninstall, "my-runner", NAMESPACE)
        await asyncio.to_thread(kube.delete_namespace, NAMESPACE)
        await server.stop()


async def _step_4_checks(
    kube: Any, server: ReferenceServer, agent: str, sh: Callable[[list[str]], str]
) -> None:
    """Step 4: Ready only while connected; the log line; the server lists it; /metrics."""
    pod = await eventually("the runner pod Ready", lambda: ready_pod(kube), timeout=240)
    await server.wait_active(agent, timeout=60)
    log = await asyncio.to_thread(sh, ["kubectl", "-n", NAMESPACE, "logs", pod["metadata"]["name"]])
    assert f"connected to ws://{kube.server_host}:{server.port} as {agent}" in log, log
    svc = (await asyncio.to_thread(kube.kubectl_json, "get", "svc", "-n", NAMESPACE))["items"]
    (name,) = [s["metadata"]["name"] for s in svc if "my-runner" in s["metadata"]["name"]]
    metrics = await asyncio.to_thread(
        kube.raw, f"/api/v1/namespaces/{NAMESPACE}/services/{name}:metrics-app/proxy/metrics"
    )
    assert "collate_hybrid_agent_connected 1.0" in metrics
    status = await asyncio.to_thread(sh, ["helm", "status", "my-runner", "-n", NAMESPACE])
    assert "STATUS: deployed" in status and "kubectl" in status, status


# The release moved to the token in an existing Secret (README's alternative to the values file).
UPGRADE_WITH_SECRET = [
    "helm",
    "upgrade",
    "my-runner",
    "./helm",
    "-n",
    NAMESPACE,
    "-f",
    "values-secret.yaml",
    "-f",
    "test.yaml",
    "--wait",
]


def ready_pod(kube: Any) -> dict[str, Any] | None:
    pods = kube.kubectl_json(
        "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/instance=my-runner"
    )["items"]
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = pod["status"].get("conditions", [])
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return dict(pod)
    return None
