"""The pod contract shared by both Kubernetes executors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.executors.base import ScheduleSpec
from runtime.executors.kube.config_secret import secret_manifest
from runtime.executors.kube.pod import (
    JOB_UID_LABEL,
    container_security_context,
    job_run_id,
    main_container,
    pod_fields,
    pod_security_context,
    resources,
    run_annotations,
    run_id_of,
    run_labels,
    schedule_container,
    selector,
    workflow_run_id,
)
from runtime.executors.naming import label_value, schedule_name
from runtime.wire.errors import LaunchFailed
from tests.runtime.executors.k8s_support import make_settings, make_spec

CONTRACT_ORDER = ["config", "pipelineType", "pipelineRunId", "ingestionPipelineFQN"]


def env_dict(container: dict[str, Any], *secrets: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet sets it: ``secretKeyRef`` entries read from
    ``secrets`` (Secret manifests)."""
    data = {(s["metadata"]["name"], k): v for s in secrets for k, v in s["stringData"].items()}
    env = {}
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = data[ref["name"], ref["key"]] if ref else entry["value"]
    return env


def run_secret(spec: Any) -> dict[str, Any]:
    """The config Secret ``spec``'s launch creates."""
    return secret_manifest(make_settings(), name=spec.run_name, config=spec.config, labels={})


def env_values(container: dict[str, Any]) -> dict[str, str]:
    """The entries with a literal value (a secretKeyRef has none)."""
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_pipeline_container_contract() -> None:
    settings = make_settings(INGESTION_EXTRA_ENVS="HTTPS_PROXY=http://proxy:3128,LOG=debug")
    spec = make_spec(config={"source": {"type": "mysql"}, "workflowConfig": {}})
    container = main_container(settings, spec)
    assert container["name"] == "main"
    assert container["command"] == ["python", "main.py"]
    assert container["image"] == spec.image
    names = [e["name"] for e in container["env"]]
    assert names[:4] == CONTRACT_ORDER
    # The config (the bot's token with it) is never inline: the kubelet reads it from the Secret.
    assert container["env"][0] == {
        "name": "config",
        "valueFrom": {"secretKeyRef": {"name": spec.run_name, "key": "config"}},
    }
    env = env_dict(container, run_secret(spec))
    assert json.loads(env["config"]) == spec.config
    assert env["pipelineType"] == "metadata"
    assert env["pipelineRunId"] == spec.run_id
    assert env["ingestionPipelineFQN"] == spec.pipeline_fqn
    assert env["KUBERNETES_IN_CLUSTER"] == "true"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert container["resources"] == {
        "requests": {"cpu": "1000m", "memory": "4096Mi"},
        "limits": {"cpu": "1000m", "memory": "4096Mi"},
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_automation_container_uses_automation_command_and_resources() -> None:
    settings = make_settings(AUTOMATION_COMMAND="python /opt/run_automation.py --verbose")
    spec = make_spec(kind="automation", pipeline_type="automation")
    container = main_container(settings, spec)
    assert container["command"] == ["python", "/opt/run_automation.py", "--verbose"]
    assert container["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


def test_contract_names_cannot_be_overridden_by_request_or_extra_envs() -> None:
    settings = make_settings(INGESTION_EXTRA_ENVS='{"pipelineType": "evil", "X": "1"}')
    spec = make_spec(env={"config": "{}", "AWS_DEFAULT_REGION": "eu-west-1", "X": "2"})
    container = main_container(settings, spec)
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), "no duplicate env names"
    env = env_dict(container, run_secret(spec))
    assert env["pipelineType"] == "metadata"
    assert json.loads(env["config"]) == spec.config
    assert env["X"] == "2", "the handler's variables come before INGESTION_EXTRA_ENVS"


def test_no_resources_when_unset() -> None:
    settings = make_settings(
        INGESTION_CPU_REQUEST="",
        INGESTION_CPU_LIMIT="",
        INGESTION_MEMORY_REQUEST="",
        INGESTION_MEMORY_LIMIT="",
    )
    assert resources(settings, "pipeline") == {}
    assert "resources" not in main_container(settings, make_spec())


def test_missing_image_is_refused() -> None:
    import attrs

    with pytest.raises(LaunchFailed, match="INGESTION_IMAGE"):
        main_container(make_settings(), attrs.evolve(make_spec(), image=""))


def test_labels_and_annotations() -> None:
    settings = make_settings()
    run_id = "9f3c1a7e-2b44-4d0e-8a55-000000000001"
    spec = make_spec(run_id, fqn="Sample Data.mysql prod/metadata")
    labels = run_labels(settings, spec)
    assert labels == {
        "app.kubernetes.io/managed-by": "hybrid-ingestion-runner",
        "hybrid-runner.io/agent-id": "agent-1",
        "hybrid-runner.io/pipeline-type": "metadata",
        "hybrid-runner.io/kind": "pipeline",
        "hybrid-runner.io/pipeline": label_value("Sample Data.mysql prod/metadata"),
        "hybrid-runner.io/run-id": run_id,
    }
    assert run_annotations(spec) == {
        "hybrid-runner.io/run-id": run_id,
        "hybrid-runner.io/pipeline-fqn": "Sample Data.mysql prod/metadata",
        "hybrid-runner.io/pipeline-type": "metadata",
    }
    # A run id that is not a valid label value is hashed in the label, kept in full in the
    # annotation.
    odd = make_spec("run/with spaces:" + "x" * 80)
    assert run_labels(settings, odd)["hybrid-runner.io/run-id"] == label_value(odd.run_id)
    assert run_annotations(odd)["hybrid-runner.io/run-id"] == odd.run_id


def test_selector_matches_labels() -> None:
    settings = make_settings(AGENT_ID="My Agent")
    labels = run_labels(settings, make_spec())
    for part in selector(settings.agent_id).split(","):
        key, value = part.split("=")
        assert labels[key] == value


def test_pod_fields() -> None:
    settings = make_settings(
        INGESTION_IMAGE_PULL_SECRETS="a, b", INGESTION_AUTOMOUNT_SA_TOKEN="false"
    )
    assert pod_fields(settings) == {
        "serviceAccountName": "ingestion",
        "automountServiceAccountToken": False,
        "imagePullSecrets": [{"name": "a"}, {"name": "b"}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    assert "serviceAccountName" not in pod_fields(make_settings(INGESTION_SERVICE_ACCOUNT_NAME=""))


def test_pod_ids_come_from_settings() -> None:
    settings = make_settings(
        INGESTION_RUN_AS_USER="1001", INGESTION_RUN_AS_GROUP="0", INGESTION_FS_GROUP="2000"
    )
    assert pod_security_context(settings) == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 0,
        "fsGroup": 2000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("INGESTION_RUN_AS_USER", "runAsUser"),
        ("INGESTION_RUN_AS_GROUP", "runAsGroup"),
        ("INGESTION_FS_GROUP", "fsGroup"),
    ],
)
def test_an_empty_id_is_omitted(variable: str, key: str) -> None:
    context = pod_security_context(make_settings(**{variable: ""}))
    assert key not in context
    assert len([k for k in ("runAsUser", "runAsGroup", "fsGroup") if k in context]) == 2


def test_openshift_settings_leave_every_id_to_the_platform() -> None:
    settings = make_settings(
        INGESTION_RUN_AS_USER="", INGESTION_RUN_AS_GROUP="", INGESTION_FS_GROUP=""
    )
    assert pod_fields(settings)["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert main_container(settings, make_spec())["securityContext"]["runAsNonRoot"] is True


def test_an_image_that_needs_root() -> None:
    settings = make_settings(INGESTION_RUN_AS_USER="0", INGESTION_RUN_AS_NON_ROOT="false")
    pod = pod_security_context(settings)
    assert pod["runAsNonRoot"] is False and pod["runAsUser"] == 0
    container = container_security_context(settings)
    assert container["runAsNonRoot"] is False
    # Still hardened otherwise.
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (workflow_run_id(), {"name": "pipelineRunId", "value": "{{workflow.uid}}"}),
        (
            job_run_id(),
            {
                "name": "pipelineRunId",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_UID_LABEL}']"}},
            },
        ),
    ],
)
def test_a_schedules_pod_gets_its_workloads_uid_as_run_id_and_its_name_fits_cronjob_limit(
    entry: dict[str, Any], expected: dict[str, Any]
) -> None:
    spec = ScheduleSpec(
        pipeline_fqn="a.very.long.service.name.with.many.parts.metadata_pipeline_0123456789",
        pipeline_type="metadata",
        config={},
        image="img:1",
        schedule="0 * * * *",
    )
    env = schedule_container(make_settings(), spec, entry)["env"]
    assert [e["name"] for e in env][:4] == CONTRACT_ORDER
    assert env[2] == expected
    name = schedule_name(spec.pipeline_fqn)
    assert len(name) <= 52
    assert name == schedule_name(spec.pipeline_fqn)
    assert name != schedule_name(spec.pipeline_fqn + "x")


def test_a_scheduled_workload_and_its_pod_have_the_workloads_uid_as_run_id() -> None:
    annotations = {"hybrid-runner.io/schedule": "omsched-x"}
    workload = {"metadata": {"name": "omsched-x-1714", "uid": "u-1", "annotations": annotations}}
    assert run_id_of(workload) == "u-1"
    owner = {"kind": "Job", "name": "omsched-x-1714", "uid": "u-1"}
    pod = {"metadata": {"annotations": annotations, "ownerReferences": [owner]}}
    assert run_id_of(pod, pod=True) == "u-1"
    # A pod without its ownerReference still carries the Job controller's label.
    labelled = {"metadata": {"annotations": annotations, "labels": {JOB_UID_LABEL: "u-1"}}}
    assert run_id_of(labelled, pod=True) == "u-1"
    stray = {"metadata": {"name": "x", "uid": "u-2", "labels": {JOB_UID_LABEL: "u-2"}}}
    assert run_id_of(stray) is None and run_id_of(stray, pod=True) is None


PROXIED = {
    "HTTPS_PROXY": "http://proxy.corp:3128",
    "HTTP_PROXY": "http://proxy.corp:3129",
    "PROXY_USERNAME": "bob",
    "PROXY_PASSWORD": "pw-never-in-a-manifest",
    "NO_PROXY": ".corp.example",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
}


def test_pods_get_the_proxy_and_its_credentials_only_by_secret_key_ref() -> None:
    settings = make_settings(
        **PROXIED,
        PROXY_CREDENTIALS_SECRET="corp-proxy",
        INGESTION_EXTRA_ENVS="HTTPS_PROXY=http://elsewhere:1,OTHER=1",
    )
    container = main_container(settings, make_spec())
    env = container["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))
    by_name = {e["name"]: e for e in env}
    for name, key in (("PROXY_USERNAME", "username"), ("PROXY_PASSWORD", "password")):
        assert by_name[name] == {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": "corp-proxy", "key": key}},
        }
    secure = "http://$(PROXY_USERNAME):$(PROXY_PASSWORD)@proxy.corp:3128"
    plain = "http://$(PROXY_USERNAME):$(PROXY_PASSWORD)@proxy.corp:3129"
    values = env_values(container)
    assert values["HTTPS_PROXY"] == values["https_proxy"] == secure
    assert values["HTTP_PROXY"] == values["http_proxy"] == plain
    # The kubelet expands $(VAR) only for variables defined earlier in the list.
    first_url = min(names.index(n) for n in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY"))
    assert names.index("PROXY_USERNAME") < names.index("PROXY_PASSWORD") < first_url
    assert values["NO_PROXY"] == values["no_proxy"]
    assert values["NO_PROXY"].split(",")[:3] == [".corp.example", "10.96.0.1", ".svc"]
    assert values["OTHER"] == "1"
    assert "pw-never-in-a-manifest" not in json.dumps(container)


def test_without_a_credentials_secret_pods_get_the_proxy_without_credentials() -> None:
    values = env_values(main_container(make_settings(**PROXIED), make_spec()))
    assert values["HTTPS_PROXY"] == "http://proxy.corp:3128"
    assert "PROXY_USERNAME" not in values and "PROXY_PASSWORD" not in values


def test_no_proxy_variables_without_a_proxy_or_when_switched_off() -> None:
    for settings in (
        make_settings(NO_PROXY="corp.example"),
        make_settings(**PROXIED, INGESTION_PROXY_ENABLED="false"),
    ):
        names = {e["name"] for e in main_container(settings, make_spec())["env"]}
        assert not names & {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "PROXY_USERNAME"}
