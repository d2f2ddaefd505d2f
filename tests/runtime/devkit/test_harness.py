"""``hybrid-runner invoke``: the real codec, dispatcher, handler and executor on a message file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.devkit.demo import STAND_IN
from tests.conftest import MESSAGES
from tests.runtime.executors.rendered import workload_of


def invoke(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "STATE_DIR": str(tmp_path / "state"),
        "LOCAL_PIPELINE_COMMAND": STAND_IN,
        "LOCAL_AUTOMATION_COMMAND": STAND_IN,
        "SECRETS_PREFLIGHT": "false",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invoke", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_prints_the_encoded_reply(tmp_path: Path) -> None:
    result = invoke(tmp_path, str(MESSAGES / "status.json"))
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["type"] == "reply"
    assert reply["id"] == "req-status-0001"
    assert reply["result"]["executor"] == "local"


def test_dry_run_prints_yaml_on_stdout_and_the_reply_on_stderr(tmp_path: Path) -> None:
    result = invoke(tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run")
    assert result.returncode == 0, result.stderr
    (doc,) = list(yaml.safe_load_all(result.stdout))
    assert doc["kind"] == "LocalProcess"
    config = json.loads(doc["env"]["config"])
    server = config["workflowConfig"]["openMetadataServerConfig"]
    assert server["secretsManagerProvider"] == "kubernetes"
    assert server["secretsManagerLoader"] == "env"
    assert doc["env"]["KUBERNETES_IN_CLUSTER"] == "true"
    reply = json.loads(result.stderr.strip().splitlines()[-1])
    assert reply["result"]["state"] == "dryRun"
    assert not (tmp_path / "state" / "runs").exists()


def test_a_launch_then_status_across_invocations(tmp_path: Path) -> None:
    frame = json.loads((MESSAGES / "run_pipeline.json").read_text())
    frame["config"]["standIn"] = {"seconds": 0.1}
    message = tmp_path / "run.json"
    message.write_text(json.dumps(frame))
    launched = invoke(tmp_path, str(message))
    assert json.loads(launched.stdout)["result"]["state"] == "queued"
    deadline = time.monotonic() + 15
    while True:
        status = json.loads(invoke(tmp_path, str(MESSAGES / "status_run.json")).stdout)
        if status["result"]["runs"][0]["state"] == "success" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["result"]["runs"][0]["state"] == "success"


def test_a_malformed_file_gets_an_invalid_message_reply(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "run_pipeline", "id": "b", "runId": 3}')
    result = invoke(tmp_path, str(bad))
    assert result.returncode == 1
    reply = json.loads(result.stdout)
    assert reply["error"]["code"] == "invalid_message"
    assert "$.runId" in reply["error"]["message"]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = invoke(tmp_path, str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "absent.json" in result.stderr


def test_a_bad_environment_value_is_named(tmp_path: Path) -> None:
    result = invoke(tmp_path, str(MESSAGES / "status.json"), LOG_FORMAT="yaml")
    assert result.returncode == 2
    assert "LOG_FORMAT" in result.stderr


def test_a_kubernetes_launch_without_any_image_is_a_clear_launch_failure(tmp_path: Path) -> None:
    result = invoke(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run", EXECUTOR_TYPE="argo"
    )
    assert result.returncode == 1
    reply = json.loads(result.stderr.strip().splitlines()[-1])
    assert reply["error"]["code"] == "launch_failed"
    assert "INGESTION_IMAGE" in reply["error"]["message"]


def test_disable_version_validation_reaches_the_pods_config(tmp_path: Path) -> None:
    on = invoke(
        tmp_path,
        str(MESSAGES / "run_pipeline.json"),
        "--dry-run",
        INGESTION_DISABLE_VERSION_VALIDATION="true",
    )
    assert on.returncode == 0, on.stderr
    (doc,) = list(yaml.safe_load_all(on.stdout))
    server = json.loads(doc["env"]["config"])["workflowConfig"]["openMetadataServerConfig"]
    assert server["enableVersionValidation"] is False
    off = invoke(tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run")
    (doc,) = list(yaml.safe_load_all(off.stdout))
    server = json.loads(doc["env"]["config"])["workflowConfig"]["openMetadataServerConfig"]
    assert "enableVersionValidation" not in server


#: A runner given only what the docs' minimal values give it, plus the executor the chart sets.
MINIMAL = {
    "AGENT_ID": "RemoteRunner",
    "AUTH_TOKEN": "t0ken-value",
    "SERVER_URL": "wss://my-cluster.getcollate.io",
    "SERVER_HOST_API_URL": "https://my-cluster.getcollate.io/api",
}


def invoke_minimal(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``invoke`` in a clean environment: nothing else of the developer's leaks in. The message
    references secrets; their preflight needs a cluster, so it is off here."""
    full_env = {
        "PATH": os.environ["PATH"],
        "STATE_DIR": str(tmp_path / "state"),
        "SECRETS_PREFLIGHT": "false",
        **MINIMAL,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invoke", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"EXECUTOR_TYPE": "simpleK8s"}, "Job"),
        ({"EXECUTOR_TYPE": "argo"}, "Workflow"),
        ({"PIPELINE_SERVICE_CLIENT_ENDPOINT": "http://argo-workflows-server:2746"}, "Workflow"),
    ],
)
def test_a_minimal_config_shows_the_default_image_in_a_dry_run(
    tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run", "--server-version", "1.13.3",
        **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = workload_of(list(yaml.safe_load_all(result.stdout)))
    assert manifest["kind"] == kind
    text = yaml.safe_dump(manifest)
    assert "image: docker.getcollate.io/openmetadata/ingestion-base:1.13.3\n" in text
    assert json.loads(result.stderr.strip().splitlines()[-1])["result"]["state"] == "dryRun"


def test_a_minimal_config_with_collates_image_derives_collates_tag(tmp_path: Path) -> None:
    collate = (
        "118146679784.dkr.ecr.eu-west-1.amazonaws.com/collate-customers-ingestion-slim-eu-west-1"
    )
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "test_connection.json"), "--dry-run", "--server-version",
        "1.13.4", EXECUTOR_TYPE="simpleK8s", INGESTION_IMAGE=f"{collate}:om-1.13.3-cl-1.13.3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    job = workload_of(list(yaml.safe_load_all(result.stdout)))
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{collate}:om-1.13.4-cl-1.13.4"


def test_without_a_server_version_or_a_tag_the_launch_fails_naming_ingestion_image(
    tmp_path: Path,
) -> None:
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run", EXECUTOR_TYPE="simpleK8s"
    )
    assert result.returncode == 1
    reply = json.loads(result.stderr.strip().splitlines()[-1])
    assert reply["error"]["code"] == "launch_failed"
    assert "INGESTION_IMAGE=<repository>:<tag>" in reply["error"]["message"]


def test_dynamic_off_without_a_tag_is_warned_at_start_up(tmp_path: Path) -> None:
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run", "--server-version", "1.13.3",
        EXECUTOR_TYPE="simpleK8s", DYNAMIC_INGESTION_VERSION_ENABLED="false",
    )  # fmt: skip
    assert result.returncode == 1
    assert "INGESTION_IMAGE has no tag" in result.stderr
    assert "launch_failed" in result.stderr.strip().splitlines()[-1]


def _main_container(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "Workflow":
        container: dict[str, Any] = manifest["spec"]["templates"][0]["container"]
    else:
        container = manifest["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize(("executor", "kind"), [("simpleK8s", "Job"), ("argo", "Workflow")])
def test_a_dry_run_shows_the_proxy_with_credentials_only_by_secret_key_ref(
    tmp_path: Path, executor: str, kind: str
) -> None:
    password = "pw-" + "z" * 12
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run", "--server-version", "1.13.3",
        EXECUTOR_TYPE=executor, KUBERNETES_SERVICE_HOST="10.96.0.1",
        HTTPS_PROXY="http://proxy.corp:3128", PROXY_USERNAME="bob", PROXY_PASSWORD=password,
        PROXY_CREDENTIALS_SECRET="corp-proxy", KUBERNETES_SERVICE_CIDR="10.96.0.0/12",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = workload_of(list(yaml.safe_load_all(result.stdout)))
    assert manifest["kind"] == kind
    env = _main_container(manifest)["env"]
    names = [e["name"] for e in env]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert refs == {
        "config": {"name": manifest["metadata"]["name"], "key": "config"},
        "PROXY_USERNAME": {"name": "corp-proxy", "key": "username"},
        "PROXY_PASSWORD": {"name": "corp-proxy", "key": "password"},
    }
    values = {e["name"]: e["value"] for e in env if "value" in e}
    url = "http://$(PROXY_USERNAME):$(PROXY_PASSWORD)@proxy.corp:3128"
    assert values["HTTPS_PROXY"] == values["https_proxy"] == url
    assert names.index("PROXY_PASSWORD") < names.index("HTTPS_PROXY")
    no_proxy = values["NO_PROXY"].split(",")
    assert values["no_proxy"] == values["NO_PROXY"]
    assert {"10.96.0.1", "10.96.0.0/12", ".svc", ".cluster.local"} <= set(no_proxy)
    assert password not in result.stdout + result.stderr


def test_inline_proxy_credentials_stop_a_pod_runner_at_start_up(tmp_path: Path) -> None:
    result = invoke_minimal(
        tmp_path, str(MESSAGES / "run_pipeline.json"), "--dry-run",
        EXECUTOR_TYPE="simpleK8s", HTTPS_PROXY="http://bob:pw-secret-value@proxy.corp:3128",
    )  # fmt: skip
    assert result.returncode == 2
    assert "HTTPS_PROXY" in result.stderr and "PROXY_CREDENTIALS_SECRET" in result.stderr
    assert "pw-secret-value" not in result.stderr + result.stdout
