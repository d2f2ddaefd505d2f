"""The resolver tier's steps: the runner makes the pod, OpenMetadata's code resolves its secret.

1. ``invoke``: ``hybrid-runner invoke --dry-run`` (the console script, a subprocess) answers a
   run_pipeline or test_connection frame with the runner's real handler, secret preflight
   included, and prints the Workflow/Job it would create.
2. ``pod_env``: the ``main`` container's environment from that manifest, exactly (an entry
   that is not a plain value fails: it could not be reproduced here), with what the cluster
   fills in filled in: a scheduled Workflow's ``{{workflow.uid}}`` becomes a uid, as Argo's
   controller makes it (OpenMetadata parses ``pipelineRunId`` as a UUID).
3. ``run_openmetadata``: that environment, plus ``IMAGE_ENV`` (what OpenMetadata's image sets)
   and the store's named overrides (endpoints and the workload identity a cluster would
   provide), given to the OpenMetadata image's entrypoints in the OpenMetadata venv
   (e2e/resolver_tier/openmetadata_pods.py).

A ``Store`` says how one secrets store is reached, by the runner and by the pod.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

E2E = Path(__file__).parent.parent
REPO = E2E.parent
SCRIPTS = E2E / "images" / "openmetadata"
PODS_DRIVER = Path(__file__).with_name("openmetadata_pods.py")
MESSAGES = REPO / "tests" / "messages"
#: Request type -> the command its pods run. deploy_pipeline: the pod of every scheduled run.
ENTRYPOINTS = {
    "run_pipeline": "main.py",
    "test_connection": "run_automation.py",
    "deploy_pipeline": "main.py",
}
#: The executor rendering each request's workload: both renderers are covered.
EXECUTORS = {"run_pipeline": "simpleK8s", "test_connection": "argo", "deploy_pipeline": "argo"}
IMAGE = "docker.getcollate.io/openmetadata/ingestion:e2e"
CHECK_PREFIX = "openmetadata-check:"
#: Argo's variable for a Workflow's uid (a scheduled run's ``pipelineRunId``).
WORKFLOW_UID = "{{workflow.uid}}"


@dataclass
class Store:
    """One secrets store as the tier uses it."""

    name: str
    #: A stored reference (the docs' form) and one that names nothing.
    present: str
    missing: str
    #: The runner's settings for this store (what the chart's values would set).
    runner_env: dict[str, str]
    #: Set on both processes: endpoints pointing the SDKs here, and the credentials a
    #: workload identity would give; every name is listed in the test module's table.
    overrides: dict[str, str]
    #: Set on the runner only (its own identity) / on the pod only.
    runner_only: dict[str, str] = field(default_factory=dict)
    pod_only: dict[str, str] = field(default_factory=dict)
    #: Stores a value under a secret id.
    put: Callable[[str, str], None] = lambda _id, _value: None


@dataclass
class Invocation:
    code: int
    reply: dict[str, Any]
    manifests: list[dict[str, Any]]
    text: str  # the whole stdout, to search for leaks


@dataclass
class PodResult:
    code: int
    stdout: str
    stderr: str

    def digest(self) -> str | None:
        for line in self.stdout.splitlines():
            if line.startswith(CHECK_PREFIX) and " sha256=" in line:
                return line.rsplit("sha256=", 1)[1].strip()
        return None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def message(entrypoint: str, reference: str, run_id: str) -> dict[str, Any]:
    """The sample frame of ``entrypoint`` with the connection's password set to ``reference``
    (the only reference: the server connection's token is plain text here)."""
    frame: dict[str, Any] = copy.deepcopy(json.loads((MESSAGES / f"{entrypoint}.json").read_text()))
    frame["id"] = f"req-{run_id}"
    if "runId" in frame:  # a schedule has no run id: each run gets its own
        frame["runId"] = run_id
    if entrypoint == "test_connection":
        workflow = frame["workflow"]
        connection = workflow["request"]["connection"]["config"]
        server = workflow["openMetadataServerConnection"]
    else:
        config = frame["config"]
        if "pipelineRunId" in config:
            config["pipelineRunId"] = run_id
        connection = config["source"]["serviceConnection"]["config"]
        server = config["workflowConfig"]["openMetadataServerConfig"]
    connection["authType"]["password"] = reference
    server["securityConfig"]["jwtToken"] = "e2e-plain-jwt-not-a-reference"
    return frame


def runner_process_env(store: Store, entrypoint: str, home: Path, **extra: str) -> dict[str, str]:
    """The runner's environment: nothing from the test's process but PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "EXECUTOR_TYPE": EXECUTORS[entrypoint],
        "INGESTION_IMAGE": IMAGE,
        "LOG_LEVEL": "INFO",
        **store.runner_env,
        **store.overrides,
        **store.runner_only,
        **extra,
    }


def invoke(frame: dict[str, Any], env: dict[str, str], workdir: Path) -> Invocation:
    """``hybrid-runner invoke <frame> --dry-run`` as a user runs it."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{frame['id']}.json"
    path.write_text(json.dumps(frame))
    command = [
        str(Path(sys.executable).parent / "hybrid-runner"),
        *("invoke", str(path), "--dry-run", "--reveal-config"),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=90, check=False, cwd=workdir
    )
    replies = [line for line in done.stderr.splitlines() if line.startswith('{"type":"reply"')]
    assert replies, f"no reply from `hybrid-runner invoke` (exit {done.returncode}):\n{done.stderr}"
    manifests = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return Invocation(done.returncode, json.loads(replies[-1]), manifests, done.stdout)


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("name") == "main" and "image" in node and "env" in node:
            yield node
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def pod_env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """The ``main`` container's environment, exactly as the kubelet would set it: a
    ``secretKeyRef`` is read from the Secret printed beside the workload (the run's config)."""
    containers = [c for doc in manifests for c in _containers(doc)]
    assert len(containers) == 1, f"expected one `main` container, found {len(containers)}"
    secrets = {
        (doc["metadata"]["name"], key): value
        for doc in manifests
        if doc.get("kind") == "Secret"
        for key, value in (doc.get("stringData") or {}).items()
    }
    env: dict[str, str] = {}
    workflow_uid = str(uuid.uuid4())  # the Workflow's, which the controller substitutes
    for entry in containers[0]["env"]:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            env[entry["name"]] = secrets[ref["name"], ref["key"]]
            continue
        assert set(entry) <= {"name", "value"}, f"env {entry['name']} is not a plain value"
        value = str(entry.get("value", ""))  # no value: the empty string
        env[entry["name"]] = value.replace(WORKFLOW_UID, workflow_uid)
    return env


def image_env(home: Path, python: Path) -> dict[str, str]:
    """What OpenMetadata's ingestion image sets itself (its Dockerfile's ENV)."""
    return {
        "HOME": str(home),
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_openmetadata(
    python: Path, pods: list[tuple[str, dict[str, str]]], workdir: Path, timeout: float = 240
) -> list[PodResult]:
    """Each (entrypoint, environment) through the OpenMetadata image's entrypoint script."""
    jobs = [{"script": str(SCRIPTS / ENTRYPOINTS[e]), "env": env} for e, env in pods]
    results = workdir / "openmetadata-results.json"
    done = subprocess.run(
        [str(python), str(PODS_DRIVER), str(results)],
        input=json.dumps(jobs),
        env=pods[0][1],  # the interpreter starts as the first pod would
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=SCRIPTS,
    )
    assert done.returncode == 0, f"the OpenMetadata driver failed:\n{done.stderr[-4000:]}"
    found = json.loads(results.read_text())
    return [PodResult(r["code"], r["stdout"], r["stderr"]) for r in found]


def openmetadata_log_lines(stderr: str) -> list[str]:
    """Lines written by OpenMetadata's own log handler (its BASE_LOGGING_FORMAT)."""
    return [line for line in stderr.splitlines() if " {metadata" in line]
