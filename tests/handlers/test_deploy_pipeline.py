"""deploy_pipeline against both Kubernetes executors (on the HTTP fake of the API server), the
local executor and the harness: the manifest, idempotent re-deploys (409 -> JSON patch),
validation, preflight."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers import deploy_pipeline
from runtime.executors.kube.pod import SCHEDULE_ANNOTATION
from runtime.kubeapi.resource import CRON_WORKFLOWS
from runtime.wire import codec
from runtime.wire.errors import Conflict, InvalidMessage, SecretNotFound, Unsupported
from runtime.wire.messages import DeployPipeline
from tests.conftest import MESSAGES
from tests.handlers.support import KINDS, LAST_USED_SCHEDULE, Kube, kube, local_context
from tests.runtime.executors.k8s_support import (
    K8S_VERSIONS,
    argo_validate,
    assert_golden,
    k8s_validate,
)
from tests.runtime.executors.rendered import workload_of
from tests.runtime.kube_api_server import Seen

FQN = "local_mysql.mysql_metadata_ingestion"


def message(**changes: Any) -> DeployPipeline:
    frame = json.loads((MESSAGES / "deploy_pipeline.json").read_text())
    frame.update(changes)
    frame = {k: v for k, v in frame.items() if v is not None}
    decoded = codec.decode_request(json.dumps(frame))
    assert isinstance(decoded, DeployPipeline)
    return decoded


def validate(kind: str, manifest: dict[str, Any]) -> None:
    if kind == "argo":
        argo_validate(manifest)
    else:
        for version in K8S_VERSIONS:
            k8s_validate(manifest, version)


def container(kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
    if kind == "argo":
        return dict(manifest["spec"]["workflowSpec"]["templates"][0]["container"])
    return dict(manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param)


def patches(k: Kube, name: str) -> list[Seen]:
    return k.requests("PATCH", k.schedules, name)


def test_deploy_creates_a_forbid_concurrency_schedule_with_the_run_pod_contract(k: Kube) -> None:
    result = deploy_pipeline.handle(message(), k.ctx)
    (body,) = k.schedule_creates()
    validate(k.kind, body)
    assert body["kind"] == ("CronWorkflow" if k.kind == "argo" else "CronJob")
    assert body["metadata"]["namespace"] == "ingestion"
    spec = body["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    # Created suspended until its config Secret exists, then enabled as asked.
    assert spec["suspend"] is True
    name = body["metadata"]["name"]
    assert patches(k, name)[-1].body == {"spec": {"suspend": False}}
    held = k.held(k.schedules, name)
    assert held is not None and held["spec"]["suspend"] is False
    if k.kind == "argo":
        assert (spec["schedules"], spec["timezone"]) == (["0 2 * * *"], "Europe/Madrid")
        posts = k.server.requests("POST", "/cronworkflows")
        assert [seen.path for seen in posts] == [CRON_WORKFLOWS.path("ingestion")]
    else:
        assert (spec["schedule"], spec["timeZone"]) == ("0 2 * * *", "Europe/Madrid")
    (secret,) = k.secrets_created
    assert secret["metadata"]["name"] == name
    # Owned by the schedule as created: the uid the API server gave it.
    assert (
        secret["metadata"]["ownerReferences"][0]["uid"] == held["metadata"]["uid"] == f"uid-{name}"
    )
    entries = container(k.kind, body)["env"]
    env: dict[str, Any] = {e["name"]: e.get("value") for e in entries}
    assert env["config"] is None, "the config is in the schedule's Secret, not its spec"
    env = {**env, "config": secret["stringData"]["config"]}
    # Each run's pipelineRunId is its workload's uid: the runner's run id for it.
    (run_id,) = [e for e in entries if e["name"] == "pipelineRunId"]
    if k.kind == "argo":
        assert run_id["value"] == "{{workflow.uid}}"
    else:
        field = run_id["valueFrom"]["fieldRef"]["fieldPath"]
        assert field == "metadata.labels['batch.kubernetes.io/controller-uid']"
    assert env["pipelineType"] == "metadata"
    assert env["ingestionPipelineFQN"] == FQN
    # The same secrets handling as run_pipeline: preflight, provider + loader, loader's env.
    assert sorted(k.store.checked) == ["collate-ingestion-bot-jwt", "mysql-password"]
    server = json.loads(env["config"])["workflowConfig"]["openMetadataServerConfig"]
    assert (server["secretsManagerProvider"], server["secretsManagerLoader"]) == (
        "kubernetes",
        "env",
    )
    assert env["KUBERNETES_IN_CLUSTER"] == "true"
    assert "secret:mysql-password" in env["config"]  # a reference, never a value
    assert result.pipeline_fqn == FQN
    assert result.schedule_name == name
    assert result.schedule_name.startswith("omsched-local-mysql-")
    assert result.enabled is True
    assert codec.unstructure(result) == {
        "pipelineFqn": FQN,
        "scheduleName": result.schedule_name,
        "enabled": True,
    }
    # Runs it starts carry what the watch needs to track them.
    assert body["metadata"]["annotations"][SCHEDULE_ANNOTATION] == result.schedule_name


def test_disabled_deploy_is_suspended_and_timezone_defaults_to_utc(k: Kube) -> None:
    result = deploy_pipeline.handle(message(enabled=False, timezone=None), k.ctx)
    spec = k.schedule_creates()[-1]["spec"]
    assert spec["suspend"] is True
    assert patches(k, result.schedule_name) == []  # it stays suspended
    assert spec["timezone" if k.kind == "argo" else "timeZone"] == "UTC"
    assert result.enabled is False


def controller_ran(k: Kube, name: str) -> None:
    """The cron controller has run the schedule: its own annotation is on the object."""
    held = k.held(k.schedules, name)
    assert held is not None
    ran = copy.deepcopy(held)
    ran["metadata"]["annotations"][LAST_USED_SCHEDULE] = "x"
    k.hold(k.schedules, ran)


def test_redeploy_is_idempotent_409_replaces_the_spec_in_place(k: Kube) -> None:
    first = deploy_pipeline.handle(message(), k.ctx)
    name = first.schedule_name
    controller_ran(k, name)
    enabling = len(patches(k, name))  # the first deploy's enabling patch

    # The schedule exists: the create gets a 409.
    again = deploy_pipeline.handle(message(schedule="30 4 * * 1-5", enabled=False), k.ctx)
    assert again.schedule_name == first.schedule_name
    assert len(k.schedule_creates()) == 2
    assert k.requests("GET", k.schedules)[-1].path == k.path(k.schedules, name)
    (patch,) = patches(k, name)[enabling:]
    assert patch.headers["content-type"] == "application/json-patch+json"
    new_body = k.schedule_creates()[-1]
    ops = patch.body
    assert ops[0]["op"] == "replace" and ops[0]["path"] == "/spec"
    assert ops[0]["value"] == {**new_body["spec"], "suspend": True}  # disabled, as asked
    # The schedule's Secret is replaced (PUT) with the new config, owned by the same object.
    put = k.secrets_replaced[-1]
    assert put.path.endswith(f"/secrets/{first.schedule_name}")
    assert put.body["metadata"]["ownerReferences"][0]["uid"] == f"uid-{name}"
    assert {
        "op": "add",
        "path": "/metadata/labels/hybrid-runner.io~1agent-id",
        "value": "agent-1",
    } in ops
    # The controller's own annotation is not in the patch: it stays.
    assert not any("last-used-schedule" in op["path"] for op in ops)
    held = k.held(k.schedules, name)
    assert held is not None and held["spec"] == ops[0]["value"]
    assert held["metadata"]["annotations"][LAST_USED_SCHEDULE] == "x"


def test_409_for_another_agents_schedule_is_a_conflict(k: Kube) -> None:
    first = deploy_pipeline.handle(message(), k.ctx)
    enabling = len(patches(k, first.schedule_name))  # the first deploy's enabling patch
    held = k.held(k.schedules, first.schedule_name)
    assert held is not None
    theirs = copy.deepcopy(held)
    theirs["metadata"]["labels"]["hybrid-runner.io/agent-id"] = "someone-else"
    k.hold(k.schedules, theirs)
    with pytest.raises(Conflict, match="someone-else"):
        deploy_pipeline.handle(message(), k.ctx)
    assert len(k.schedule_creates()) == 2  # the second create got a 409
    assert patches(k, first.schedule_name)[enabling:] == []


def test_409_then_gone_creates_it_again(k: Kube) -> None:
    # A 409, then the read finds nothing (deleted in between): created once more.
    k.fail("POST", k.schedules, None, (409, "cronworkflows already exists"))
    deploy_pipeline.handle(message(), k.ctx)
    assert len(k.schedule_creates()) == 2
    assert len(k.requests("GET", k.schedules)) == 1


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("0 2 * *", "has 4 field(s)"),
        ("@daily", "has 1 field(s)"),
        ("CRON_TZ=UTC 0 2 * * *", "has 6 field(s)"),
        ("60 2 * * *", "minute field: 60 is outside 0-59"),
        ("0 24 * * *", "hour field: 24 is outside 0-23"),
        ("0 2 0 * *", "day of month field: 0 is outside 1-31"),
        ("0 2 * 13 *", "month field: 13 is outside 1-12"),
        ("0 2 * * 7", "day of week field: 7 is outside 0-6"),
        ("*/0 2 * * *", "step 0"),
        ("0 5-1 * * *", "runs backwards"),
        ("0 2 * FOO *", "one of JAN"),
        ("? 2 * * *", "'?' is allowed only in the day fields"),
        ("0 2 * * mon#2", "is not N, N-M"),
    ],
)
def test_a_bad_cron_expression_is_invalid_message_naming_schedule(
    schedule: str, fragment: str
) -> None:
    k = kube("argo")
    with pytest.raises(InvalidMessage) as caught:
        deploy_pipeline.handle(message(schedule=schedule), k.ctx)
    assert caught.value.message.startswith("$.schedule: ")
    assert fragment in caught.value.message
    assert k.schedule_creates() == []


@pytest.mark.parametrize(
    "schedule",
    [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0 1,15 * ?",
        "0 9-17/2 * JAN-MAR MON-FRI",
        "5 4 * * sun",
        "0 0 1/2 * *",
    ],
)
def test_good_cron_expressions_pass(schedule: str) -> None:
    k = kube("simpleK8s")
    deploy_pipeline.handle(message(schedule=schedule), k.ctx)
    k8s_validate(k.schedule_creates()[-1], K8S_VERSIONS[-1])


@pytest.mark.parametrize(
    "timezone", ["Mars/Olympus", "utc", " ", "../etc/passwd", "/etc/localtime"]
)
def test_a_bad_timezone_is_invalid_message_naming_timezone(timezone: str) -> None:
    k = kube("argo")
    with pytest.raises(InvalidMessage, match=r"^\$\.timezone: .*IANA"):
        deploy_pipeline.handle(message(timezone=timezone), k.ctx)


def test_a_missing_secret_stops_the_deploy_before_anything_is_created(k: Kube) -> None:
    frame = json.loads((MESSAGES / "deploy_pipeline.json").read_text())
    frame["config"]["source"]["serviceConnection"]["config"]["authType"]["password"] = (
        "secret:missing-password"
    )
    decoded = codec.decode_request(json.dumps(frame))
    with pytest.raises(SecretNotFound, match="missing-password"):
        deploy_pipeline.handle(decoded, k.ctx)  # type: ignore[arg-type]
    assert k.schedule_creates() == []


def test_the_local_executor_answers_unsupported_before_any_preflight(tmp_path: Path) -> None:
    ctx, _executor = local_context(tmp_path)
    with pytest.raises(Unsupported) as caught:
        deploy_pipeline.handle(message(), ctx)
    assert caught.value.code == "unsupported"
    assert caught.value.retryable is False
    assert "argo" in caught.value.message and "simpleK8s" in caught.value.message
    assert ctx.secrets.store.checked == []  # type: ignore[attr-defined]


def test_dry_run_renders_and_creates_nothing(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True)
    result = deploy_pipeline.handle(message(), dry.ctx)
    assert dry.schedule_creates() == []
    assert dry.secrets_created == []
    manifest = workload_of(dry.ctx.rendered)
    assert manifest["metadata"]["name"] == result.schedule_name
    deploy_pipeline.handle(message(), k.ctx)
    created = k.schedule_creates()[-1]
    # Created suspended, then enabled: what the dry run showed is what ends up there.
    assert created["spec"]["suspend"] is True
    assert {**created, "spec": {**created["spec"], "suspend": False}} == manifest


# -- the harness: `hybrid-runner invoke --dry-run` prints the exact manifest -----------------------


def invoke_dry_run(tmp_path: Path, executor: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EXECUTOR_TYPE": executor,
        "AGENT_ID": "acme-runner",
        "INGESTION_NAMESPACE": "ingestion",
        "INGESTION_IMAGE": "docker.getcollate.io/openmetadata/collate-base:om-1.11.1-cl-1.11.1",
        "STATE_DIR": str(tmp_path / "state"),
        "SECRETS_PREFLIGHT": "false",
    }
    for name in ("ARGO_PIPELINE_TYPE_CONFIGS", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS", "KUBECONFIG"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invoke", "--dry-run",
         str(MESSAGES / "deploy_pipeline.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("executor", "golden"), [("argo", "deploy_argo"), ("simpleK8s", "deploy_simplek8s")]
)
def test_invoke_dry_run_prints_the_exact_schedule_manifest(
    tmp_path: Path, executor: str, golden: str
) -> None:
    result = invoke_dry_run(tmp_path, executor)
    assert result.returncode == 0, result.stderr
    manifest = workload_of(list(yaml.safe_load_all(result.stdout)))
    validate(executor, manifest)
    assert_golden(golden, manifest)
    reply = json.loads(result.stderr.strip().splitlines()[-1])
    assert reply["ok"] is True
    assert reply["result"] == {
        "pipelineFqn": FQN,
        "scheduleName": manifest["metadata"]["name"],
        "enabled": True,
    }


def test_invoke_dry_run_under_local_answers_unsupported(tmp_path: Path) -> None:
    result = invoke_dry_run(tmp_path, "local")
    assert result.returncode == 1
    reply = json.loads(result.stderr.strip().splitlines()[-1])
    assert reply["error"]["code"] == "unsupported"
    assert result.stdout == ""
