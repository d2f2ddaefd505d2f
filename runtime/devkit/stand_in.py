"""A stand-in for OpenMetadata's ingestion entry points, for the demo and the tests.

It reads the same environment contract as the ingestion pod (``config``, ``pipelineType``,
``pipelineRunId``, ``ingestionPipelineFQN``) and behaves as the config's optional ``standIn``
object says, e.g. ``{"seconds": 2, "exitCode": 0, "lines": 3, "ignoreTerm": false}``. On real
pods (the kind tier) two more keys show what the pod got: ``"env": true`` prints one line
``stand-in: env {...}`` with the contract and secrets-manager variables the runner sets (names
in ``SHOWN``), the process's uid and the secrets-manager settings of the config; and
``"allocateMiB": N`` touches N MiB of memory first, to exceed a memory limit (OOMKilled);
``"apiGet": ["secrets/NAME", ...]`` asks the Kubernetes API for those objects of the pod's
namespace with the pod's own service account and prints each answer's HTTP status only
(``stand-in: api GET secrets/NAME -> 403``): what an ingestion pod may read.
It is not ingestion: it connects to nothing else and prints no secret.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid

CONTRACT = ("config", "pipelineType", "ingestionPipelineFQN")
# pipelineRunId may be absent (a schedule deployed by a runner before scheduled pods got their
# workload's uid): the ingestion process then makes one up.
SHOWN = (
    "pipelineType",
    "pipelineRunId",
    "ingestionPipelineFQN",
    "KUBERNETES_IN_CLUSTER",
    "KUBERNETES_NAMESPACE",
    "AWS_DEFAULT_REGION",
    "AZURE_KEY_VAULT_NAME",
    "GOOGLE_CLOUD_PROJECT",
    "HOME",
)
PAGE = 4096
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def show_env(config: dict[str, object]) -> None:
    """One JSON line: what the pod's environment and config tell the ingestion process."""
    workflow = config.get("workflowConfig")
    server = workflow.get("openMetadataServerConfig") if isinstance(workflow, dict) else None
    server = server if isinstance(server, dict) else {}
    shown: dict[str, object] = {name: os.environ[name] for name in SHOWN if name in os.environ}
    shown["uid"] = os.getuid()
    for key in ("secretsManagerProvider", "secretsManagerLoader"):
        shown[key] = server.get(key)
    print(f"stand-in: env {json.dumps(shown, sort_keys=True)}", flush=True)


def api_get(path: str) -> int:
    """The HTTP status of GET ``path`` in the pod's namespace, as the pod's service account;
    the body (a Secret's data, if allowed) is read and dropped, never printed."""
    with open(f"{SERVICE_ACCOUNT}/token") as token, open(f"{SERVICE_ACCOUNT}/namespace") as ns:
        bearer, namespace = token.read().strip(), ns.read().strip()
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    request = urllib.request.Request(
        f"https://{host}:{port}/api/v1/namespaces/{namespace}/{path}",
        headers={"Authorization": f"Bearer {bearer}"},
    )
    context = ssl.create_default_context(cafile=f"{SERVICE_ACCOUNT}/ca.crt")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def allocate(mebibytes: int) -> bytearray:
    """Touches every page, so the memory counts against the container's limit."""
    block = bytearray(mebibytes * 1024 * 1024)
    for offset in range(0, len(block), PAGE):
        block[offset] = 1
    return block


def main() -> int:
    missing = [name for name in CONTRACT if not os.environ.get(name)]
    if missing:
        print(f"stand-in: missing pod contract variables: {', '.join(missing)}", flush=True)
        return 2
    try:
        config = json.loads(os.environ["config"])
    except json.JSONDecodeError as exc:
        print(f"stand-in: config is not JSON: {exc}", flush=True)
        return 2
    behaviour = config.get("standIn", {}) if isinstance(config, dict) else {}
    seconds = float(behaviour.get("seconds", 0.2))
    exit_code = int(behaviour.get("exitCode", 0))
    lines = int(behaviour.get("lines", 2))

    def on_term(_signum: int, _frame: object) -> None:
        print("stand-in: received SIGTERM, stopping", flush=True)
        sys.exit(143)

    # "ignoreTerm" imitates a process that does not stop on SIGTERM (kill escalation tests).
    signal.signal(signal.SIGTERM, signal.SIG_IGN if behaviour.get("ignoreTerm") else on_term)
    print(
        f"stand-in: {os.environ['pipelineType']} run "
        f"{os.environ.get('pipelineRunId') or f'{uuid.uuid4()} (scheduled)'} "
        f"of {os.environ['ingestionPipelineFQN']}",
        flush=True,
    )
    if behaviour.get("env"):
        show_env(config)
    for path in behaviour.get("apiGet", []):
        print(f"stand-in: api GET {path} -> {api_get(str(path))}", flush=True)
    held = allocate(int(behaviour.get("allocateMiB", 0)))
    if held:
        print(f"stand-in: holding {len(held) >> 20} MiB", flush=True)
    for index in range(lines):
        print(f"stand-in: step {index + 1}/{lines}", flush=True)
        time.sleep(seconds / max(lines, 1))
    print(f"stand-in: exiting with {exit_code}", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
