"""Behind an egress proxy on real pods (the kind tier): the chart installs the runner with
``proxy.*``, Debian's squid runs on the host (the kind network's gateway) with Basic
authentication in front of the reference server over TLS with a private CA. What an operator
would check: squid's own access log shows the runner's CONNECT to the server as the proxy user;
the runner's Kubernetes calls keep working (a run is launched, watched and ends) and never go
through squid; a run's Job or Workflow gets the proxy variables, with NO_PROXY holding the API
server and the credentials only by ``secretKeyRef``."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from e2e.kind.backend import KubeBackend
from e2e.kind_tier.kind_kit import Release, run_frame, serving
from e2e.runner_kit import AGENT, EXECUTORS, new_run_id
from runtime.executors.naming import run_name
from tests.squid_proxy import Squid, running_squid
from tests.tlsutil import make_ca_and_server_cert

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
FINAL = ("success", "failed", "stopped", "partialSuccess")
USER, PASSWORD = "runner-bot", "pw" + secrets.token_hex(8)  # URL-safe, as pods need it
CREDENTIALS = "corp-proxy"


class ProxiedRelease(Release):
    """The chart with `proxy.*`, the server over TLS (its CA in `config.serverCA`)."""

    def __init__(self, kube: KubeBackend, executor: str, squid: Squid, ca: Path) -> None:
        super().__init__(kube, executor, release="proxied")
        self.squid, self.ca = squid, ca

    def values(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        values = super().values(extra_env)
        url = self.server.ws_url(self.kube.server_host)
        values["config"]["serverUrl"] = url
        values["config"]["serverHost"] = url.replace("wss://", "https://").rsplit("/", 1)[0]
        values["config"]["serverCA"] = self.ca.read_text()
        values["extraEnvs"] = [e for e in values["extraEnvs"] if e["name"] != "ALLOW_INSECURE_WS"]
        values["proxy"] = {
            "httpsProxy": self.squid.url,
            "existingSecret": CREDENTIALS,
            "serviceCIDR": "10.96.0.0/16",
        }
        return values

    async def prepare_namespace(self) -> None:
        # The credentials Secret exists before the runner pod that reads them.
        await asyncio.to_thread(
            self.kube.kubectl, "-n", self.namespace, "create", "secret", "generic", CREDENTIALS,
            f"--from-literal=username={USER}", f"--from-literal=password={PASSWORD}",
        )  # fmt: skip


@pytest.fixture(scope="module")
def tls(kube: KubeBackend, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path_factory.mktemp("tls"), extra_ips=[kube.server_host])


@pytest.fixture(scope="module")
def server_port(kube: KubeBackend) -> int:
    with socket.socket() as probe:
        probe.bind((kube.server_host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def squid(kube: KubeBackend, server_port: int) -> Iterator[Squid]:
    # CONNECT is allowed to the reference server's port only.
    with running_squid({USER: PASSWORD}, [server_port], host=kube.server_host) as proxy:
        yield proxy


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=EXECUTORS)
async def release(
    request: pytest.FixtureRequest,
    kube: KubeBackend,
    squid: Squid,
    server_port: int,
    tls: tuple[Path, Path, Path],
) -> AsyncIterator[ProxiedRelease]:
    ca, cert, key = tls
    rel = ProxiedRelease(kube, request.param, squid, ca)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    rel.server_port, rel.server_options = server_port, {"ssl_context": context}
    async with serving(rel) as running:
        yield running


def connects(squid: Squid, target: str) -> list[Any]:
    return [line for line in squid.log_lines() if line.method == "CONNECT" and line.url == target]


async def test_the_runner_connects_through_the_proxy_and_runs_on_the_cluster(
    release: ProxiedRelease,
) -> None:
    target = release.server_address()
    # squid writes a CONNECT line when the tunnel closes: drop the agent, it reconnects.
    await release.server.disconnect(AGENT)
    await release.server.wait_active(AGENT, timeout=120)
    lines = connects(release.squid, target)
    assert lines, release.squid.logs()
    print("\n".join(f"squid: {line.raw}" for line in lines))  # the evidence, with -s
    assert {(line.status, line.user) for line in lines} >= {("TCP_TUNNEL/200", USER)}, lines
    logs = await asyncio.to_thread(
        release.kube.kubectl, "-n", release.namespace, "logs", "-l",
        "app.kubernetes.io/name=hybrid-ingestion-runner", "--tail=-1",
    )  # fmt: skip
    assert f"via proxy {release.squid.url}" in logs and PASSWORD not in logs
    run_id = new_run_id()
    assert (await release.request(run_frame(run_id, {"seconds": 1})))["ok"]
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", final
    # The Kubernetes API was reached directly: squid saw no CONNECT to it.
    api = [line for line in release.squid.log_lines() if line.url.startswith("10.96.")]
    assert api == [], "a Kubernetes API call went through the proxy"
    await check_the_pods_proxy(release, run_id)


async def check_the_pods_proxy(release: ProxiedRelease, run_id: str) -> None:
    kind = "job" if release.executor == "simpleK8s" else "workflow"
    workload = await asyncio.to_thread(
        release.kube.kubectl_json, "-n", release.namespace, "get", kind, run_name(run_id)
    )
    text = json.dumps(workload)
    assert PASSWORD not in text
    env = {e["name"]: e for e in find_main_env(workload)}
    assert env["PROXY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": CREDENTIALS,
        "key": "password",
    }
    host = release.squid.url.split("://", 1)[1]
    assert env["HTTPS_PROXY"]["value"] == f"http://$(PROXY_USERNAME):$(PROXY_PASSWORD)@{host}"
    no_proxy = env["NO_PROXY"]["value"].split(",")
    assert "10.96.0.1" in no_proxy and "10.96.0.0/16" in no_proxy, no_proxy


def find_main_env(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]
    if "templates" in spec:
        return list(spec["templates"][0]["container"]["env"])
    (main,) = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "main"]
    return list(main["env"])
