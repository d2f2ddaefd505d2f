"""OpenMetadata's image contract on real pods (issue 16): a named non-root user, in-cluster secrets.

The ingestion pods run the test image built like OpenMetadata's (``USER openmetadata``, uid 1000,
HOME /home/openmetadata, WORKDIR /ingestion; e2e/images/openmetadata-ingestion.Dockerfile), whose
``main.py`` / ``run_automation.py`` resolve the connection's ``secret:`` password with
OpenMetadata's own secrets manager from the env and config the runner gave the pod, through the
chart's ingestion ServiceAccount, and print the value's sha256 (never the value). For both
executors and both entrypoints: the default security context starts the image and the digest in
the real container log is the Secret's; a missing Secret is refused by the preflight; a Secret
the ingestion Role may not read fails the run with a message naming it; and the same image with
``runAsNonRoot`` but no ``runAsUser`` (the runner before issue 16) is refused by the kubelet and
reported as ``failed`` / ``CreateContainerConfigError`` with the kubelet's message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from e2e.kind_tier.kind_kit import Release, installed, run_frame
from e2e.runner_kit import EXECUTORS, new_run_id

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
FINAL = ("success", "failed", "stopped", "partialSuccess")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=EXECUTORS)
async def release(request: pytest.FixtureRequest, kube: Any) -> AsyncIterator[Release]:
    async with installed(kube, request.param, ingestion="openmetadata") as rel:
        yield rel


def pipeline_frame(run_id: str, reference: str) -> dict[str, Any]:
    frame = run_frame(run_id, {})
    # OpenMetadata's models refuse members they do not know: no stand-in behaviour here.
    del frame["config"]["standIn"]
    frame["config"]["source"]["serviceConnection"]["config"]["authType"] = {"password": reference}
    return frame


def connection_frame(run_id: str, reference: str) -> dict[str, Any]:
    return {
        "type": "test_connection",
        "runId": run_id,
        "workflow": {
            "id": run_id,
            "name": f"test-connection-Mysql-{run_id[:8]}",
            "fullyQualifiedName": f"test-connection-Mysql-{run_id[:8]}",
            "workflowType": "TEST_CONNECTION",
            "status": "Pending",
            "request": {
                "connection": {
                    "config": {
                        "type": "Mysql",
                        "username": "openmetadata_user",
                        "authType": {"password": reference},
                        "hostPort": "mysql.data.svc.cluster.local:3306",
                    }
                },
                "serviceType": "Database",
                "connectionType": "Mysql",
                "serviceName": "e2e_svc",
            },
            "openMetadataServerConnection": {
                "hostPort": "https://acme.getcollate.io/api",
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": "plain-token-for-e2e"},
            },
        },
    }


async def check_line(release: Release, run_id: str) -> str:
    log = await release.log_text(run_id)
    lines = [line for line in log.splitlines() if line.startswith("openmetadata-check:")]
    assert lines, log
    return lines[-1]


@pytest.mark.parametrize("frame", [pipeline_frame, connection_frame], ids=["main", "automation"])
async def test_the_default_pod_runs_openmetadatas_image_and_resolves_the_secret(
    release: Release, frame: Any
) -> None:
    name, value = await release.create_secret("e2e-om")
    run_id = new_run_id()
    reply = await release.request(frame(run_id, f"secret:{name}"))
    assert reply["ok"] is True, reply
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", (final, await asyncio.to_thread(release.describe))
    line = await check_line(release, run_id)
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert "uid=1000 home=/home/openmetadata cwd=/ingestion" in line, line
    assert "provider=kubernetes loader=env" in line, line
    assert f"reference=secret:{name} sha256={digest}" in line, line
    (pod,) = await asyncio.to_thread(release.pods, run_id)
    assert value not in json.dumps(pod)
    assert pod["spec"]["securityContext"]["runAsUser"] == 1000, pod["spec"]["securityContext"]


async def test_a_missing_secret_is_refused_before_any_pod(release: Release) -> None:
    run_id = new_run_id()
    reply = await release.request(pipeline_frame(run_id, "secret:e2e-om-missing"))
    assert reply["ok"] is False and reply["error"]["code"] == "secret_not_found", reply
    assert "e2e-om-missing" in reply["error"]["message"], reply
    assert await asyncio.to_thread(release.pods, run_id) == []


async def test_a_secret_the_ingestion_role_cannot_read_fails_naming_it(release: Release) -> None:
    name, _ = await release.create_secret("e2e-om")
    role_name = f"{release.release}-hybrid-ingestion-runner-ingestion"
    role = await asyncio.to_thread(
        release.kube.kubectl_json, "-n", release.namespace, "get", "role", role_name
    )
    original = [dict(rule) for rule in role["rules"]]
    role["rules"] = [r for r in original if "secrets" not in r.get("resources", [])]
    assert len(role["rules"]) < len(original), original
    await asyncio.to_thread(apply, release, role)
    try:
        run_id = new_run_id()
        assert (await release.request(pipeline_frame(run_id, f"secret:{name}")))["ok"]
        final = await release.wait_update(run_id, *FINAL)
        assert final["state"] == "failed", final
        line = await check_line(release, run_id)
        assert f"secret reference secret:{name} did not resolve" in line, line
    finally:
        role["rules"] = original
        await asyncio.to_thread(apply, release, role)


def apply(release: Release, obj: dict[str, Any]) -> None:
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        obj["metadata"].pop(key, None)
    with release.kube.values_file(obj) as path:
        release.kube.kubectl("-n", release.namespace, "replace", "-f", path)


async def test_run_as_non_root_without_a_numeric_user_is_refused_by_the_kubelet(
    release: Release,
) -> None:
    """The regression issue 16 exists for: the pod the runner made before it, on a real kubelet.

    Runs last in this module: it upgrades the release to that security context."""
    await release.upgrade(
        release.values(
            {"INGESTION_RUN_AS_USER": "", "INGESTION_RUN_AS_GROUP": "", "INGESTION_FS_GROUP": ""}
        )
    )
    run_id = new_run_id()
    assert (await release.request(pipeline_frame(run_id, "plain-password")))["ok"]
    final = await release.wait_update(run_id, *FINAL, timeout=240)
    assert (final["state"], final.get("reason")) == ("failed", "CreateContainerConfigError"), final
    assert "non-numeric user (openmetadata)" in final.get("message", ""), final
