"""The runner under test, set up as in a real installation, against the local control plane.

* RBAC: the Role the project's Helm chart renders for the executor (``secretsManager:
  kubernetes``) is created in the test's namespace and bound to a user minted for the test; the
  runner's kubeconfig authenticates as that user, so the apiserver refuses whatever the chart
  does not grant.
* The runner is the real one (``build_runner(Settings.from_env(env))``), in process, connected
  over a real WebSocket to a ``ReferenceServer`` on 127.0.0.1.
* A run's simulated pod outcome is chosen per request through the pipeline FQN: a pod labelled
  ``hybrid-runner.io/pipeline`` containing ``e2e-outcome-failed`` / ``-running`` / ``-succeeded``
  gets that outcome (``e2e/controlplane/stages/pod-outcome.yaml``); any other FQN succeeds after
  one second, as every Job/Workflow pod does.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes.config import kube_config
from prometheus_client import CollectorRegistry

from e2e.controlplane.cluster import LocalControlPlane
from runtime.composition import build_runner
from runtime.devkit.reference_server import ReferenceServer
from runtime.serving.app import Runner
from runtime.settings import Settings

AGENT = "e2e-agent"
USER = "hybrid-runner"
IMAGE = "docker.getcollate.io/openmetadata/ingestion:e2e"
EXECUTORS = ("argo", "simpleK8s")
ARGO = {"group": "argoproj.io", "version": "v1alpha1"}
FQN_OK = "e2e_svc.ok_ingestion"
FQN_FAILED = "e2e_svc.e2e-outcome-failed"
FQN_RUNNING = "e2e_svc.e2e-outcome-running"

T = TypeVar("T")


#: The Kubernetes Secrets the tier's requests may name (config.allowedSecretReferences).
ALLOWED_SECRETS = ("mysql-password", "collate-ingestion-bot-jwt")


@functools.cache
def chart_role_rules(executor: str, secrets_manager: str = "kubernetes") -> list[dict[str, Any]]:
    """The runner's Role rules as the Helm chart renders them (``helm template``)."""
    from tests.helm.helmkit import MINIMAL, fullname, merge, render

    config = {"secretsManager": secrets_manager, "allowedSecretReferences": list(ALLOWED_SECRETS)}
    values = merge(MINIMAL, {"executor": executor, "config": config})
    return render(values).role_rules(fullname())


def runner_env(
    server: ReferenceServer, executor: str, namespace: str, state_dir: Path, **extra: str
) -> dict[str, str]:
    env = {
        "AGENT_ID": AGENT,
        "AUTH_TOKEN": next(iter(server.tokens)),
        "SERVER_URL": server.ws_url(),
        "ALLOW_INSECURE_WS": "true",
        "EXECUTOR_TYPE": executor,
        "INGESTION_NAMESPACE": namespace,
        "INGESTION_IMAGE": IMAGE,
        "SECRETS_MANAGER": "kubernetes",
        "STATE_DIR": str(state_dir),
        "METRICS_SERVER_HOST": "127.0.0.1",
        "METRICS_SERVER_PORT": "0",
        "RECONNECT_DELAY_SECONDS": "0.05",
        "RECONNECT_MAX_DELAY_SECONDS": "0.2",
        "KILL_GRACE_SECONDS": "2",
    }
    env.update(extra)
    return env


def new_server() -> ReferenceServer:
    return ReferenceServer({"tok-" + secrets.token_hex(12): None}, heartbeat_seconds=30)


class Deployment:
    """One namespace with the chart's Role, a kubeconfig bound to it, a server and runners."""

    def __init__(
        self,
        cluster: LocalControlPlane,
        namespace: str,
        executor: str,
        kubeconfig: Path,
        state_dir: Path,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.executor = executor
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.server = new_server()
        self.runners: list[Runner] = []
        self.admin = cluster.api_client()

    # -- runner and server -------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return runner_env(self.server, self.executor, self.namespace, self.state_dir, **extra)

    async def start_runner(self, **extra: str) -> Runner:
        settings = Settings.from_env(self.env(**extra), require_server=True)
        runner = build_runner(settings, registry=CollectorRegistry())
        await runner.start()
        self.runners.append(runner)
        await asyncio.wait_for(runner.connection.connected_event.wait(), 20)
        await self.server.wait_active(AGENT, timeout=20)
        return runner

    async def request(self, frame: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        frame = {"id": f"req-{uuid.uuid4().hex[:10]}", **frame}
        return await self.server.request(AGENT, frame, timeout=timeout)

    async def close(self) -> None:
        for runner in self.runners:
            await runner.stop(grace=2)
        await self.server.stop()
        self.admin.close()

    def run_updates(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.server.events(AGENT, "run_update") if e.get("runId") == run_id]

    def states(self, run_id: str) -> list[str]:
        return [str(e["state"]) for e in self.run_updates(run_id)]

    async def wait_state(self, run_id: str, *states: str, timeout: float = 60.0) -> dict[str, Any]:
        return await self.server.wait_event(
            AGENT,
            lambda e: (
                e["type"] == "run_update" and e.get("runId") == run_id and e["state"] in states
            ),
            timeout=timeout,
        )

    # -- cluster objects (admin view) --------------------------------------------------------

    def workloads(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Workflows (argo) or Jobs (simpleK8s) in the namespace, as dicts; of one run if given."""
        if self.executor == "argo":
            items = k8s.CustomObjectsApi(self.admin).list_namespaced_custom_object(
                ARGO["group"], ARGO["version"], self.namespace, "workflows"
            )["items"]
        else:
            jobs = k8s.BatchV1Api(self.admin).list_namespaced_job(self.namespace).items
            items = [self.admin.sanitize_for_serialization(j) for j in jobs]
        if run_id is None:
            return list(items)
        return [
            o
            for o in items
            if (o["metadata"].get("annotations") or {}).get("hybrid-runner.io/run-id") == run_id
        ]

    def schedules(self) -> list[dict[str, Any]]:
        if self.executor == "argo":
            return list(
                k8s.CustomObjectsApi(self.admin).list_namespaced_custom_object(
                    ARGO["group"], ARGO["version"], self.namespace, "cronworkflows"
                )["items"]
            )
        jobs = k8s.BatchV1Api(self.admin).list_namespaced_cron_job(self.namespace).items
        return [self.admin.sanitize_for_serialization(j) for j in jobs]

    def pods(self) -> list[Any]:
        return list(k8s.CoreV1Api(self.admin).list_namespaced_pod(self.namespace).items)

    def secret(self, name: str) -> dict[str, Any] | None:
        """A Secret of the namespace as the API server stores it (data decoded), or None."""
        try:
            found = k8s.CoreV1Api(self.admin).read_namespaced_secret(name, self.namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        obj: dict[str, Any] = self.admin.sanitize_for_serialization(found)
        data = obj.get("data") or {}
        obj["data"] = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return obj

    def run_config(self, workload: dict[str, Any]) -> dict[str, Any]:
        """The config the pod reads: ``config`` by secretKeyRef from the workload's Secret."""
        (entry,) = [e for e in self.main_container(workload)["env"] if e["name"] == "config"]
        ref = entry["valueFrom"]["secretKeyRef"]
        secret = self.secret(ref["name"])
        assert secret is not None, f"no Secret {ref['name']}"
        config: dict[str, Any] = json.loads(secret["data"][ref["key"]])
        return config

    def main_container(self, workload: dict[str, Any]) -> dict[str, Any]:
        if self.executor == "argo":
            container: dict[str, Any] = workload["spec"]["templates"][0]["container"]
        else:
            (container,) = [
                c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == "main"
            ]
        return container

    def describe(self) -> str:
        lines = []
        for p in self.pods():
            lines.append(
                f"pod {p.metadata.name}: phase={p.status.phase} node={p.spec.node_name} "
                f"conditions={[(c.type, c.status, c.reason) for c in p.status.conditions or []]}"
            )
        for o in self.workloads():
            lines.append(f"{o['metadata']['name']}: status={o.get('status')}")
        lines.append(f"events: {self.server.events(AGENT)[-20:]}")
        return "\n".join(lines)


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path) -> None:
    """Points the kubernetes client at ``kubeconfig`` (it reads KUBECONFIG once, at import)."""
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


async def eventually(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.25,
    describe: Callable[[], str] | None = None,
) -> T:
    """Polls a blocking ``probe`` in a thread (the runner shares this event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"\n{await asyncio.to_thread(describe)}" if describe else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        await asyncio.sleep(interval)


def run_frame(run_id: str, fqn: str = FQN_OK, pipeline_type: str = "metadata") -> dict[str, Any]:
    """A run_pipeline request whose config holds no secret reference."""
    return {
        "type": "run_pipeline",
        "runId": run_id,
        "pipelineType": pipeline_type,
        "pipelineFqn": fqn,
        "config": pipeline_config(fqn, run_id),
    }


def pipeline_config(fqn: str, run_id: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "source": {
            "type": "mysql",
            "serviceName": fqn.split(".")[0],
            "serviceConnection": {
                "config": {
                    "type": "Mysql",
                    "username": "openmetadata_user",
                    "hostPort": "mysql.data.svc.cluster.local:3306",
                }
            },
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "openMetadataServerConfig": {
                "hostPort": "https://acme.getcollate.io/api",
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": "plain-token-for-e2e"},
            }
        },
        "ingestionPipelineFQN": fqn,
    }
    if run_id:
        config["pipelineRunId"] = run_id
    return config


def new_run_id() -> str:
    return str(uuid.uuid4())


# -- the runner as a subprocess (`python -m runtime`), for SIGKILL and restart ---------------


class RunnerProcess:
    """``python -m runtime`` with a Deployment's environment and its user's kubeconfig.

    Its ``/readyz`` is on a fixed free port (``self.port``) so that it can be polled from the
    first moment; stdout/stderr go to ``log_path`` (appended across restarts).
    """

    def __init__(self, deployment: Deployment, log_path: Path, **extra: str) -> None:
        from e2e.controlplane.cluster import free_port

        self.deployment = deployment
        self.log_path = log_path
        self.port = free_port()
        self.extra = extra
        self.process: Any = None

    def environ(self) -> dict[str, str]:
        import os

        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("KUBERNETES_") and k != "KUBECONFIG"
        }
        env.update(self.deployment.env(METRICS_SERVER_PORT=str(self.port), **self.extra))
        env["KUBECONFIG"] = str(self.deployment.kubeconfig)
        env.setdefault("LOG_LEVEL", "INFO")
        return env

    def start(self) -> None:
        import subprocess
        import sys

        assert self.process is None or self.process.poll() is not None, "already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runtime"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environ(),
                cwd=str(Path(__file__).resolve().parents[1]),
            )

    def sigkill(self) -> None:
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), SIGKILL after ``timeout``."""
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.sigkill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def readyz(self) -> tuple[int, str] | None:
        """(status, body) of ``/readyz``, or None when nothing answers yet."""
        import urllib.error
        import urllib.request

        url = f"http://127.0.0.1:{self.port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def running_pod(deployment: Deployment, run_id: str) -> Any:
    """The run's pod once it is Running, else None."""
    return next(
        (
            p
            for p in deployment.pods()
            if p.status.phase == "Running"
            and (p.metadata.labels or {}).get("hybrid-runner.io/run-id") == run_id
        ),
        None,
    )
