"""Argo Workflow builders (golden manifests, Argo's CRD schema, Kubernetes Pod schema) and the
phase mapping. The executor's API behaviour is in test_k8s_executor.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.executors.base import ScheduleSpec
from runtime.executors.kube import argo
from runtime.executors.kube.argo import (
    cron_workflow_manifest,
    workflow_manifest,
)
from runtime.executors.kube.argo_state import workflow_state
from runtime.executors.scheduling import PIPELINE_TYPES, parse_pipeline_type_configs
from tests.runtime.executors.k8s_support import (
    DOC_ARGO_PIPELINE_TYPE_CONFIGS,
    K8S_VERSIONS,
    SECURITY_ENVS,
    argo_validate,
    assert_golden,
    assert_security_contexts,
    k8s_validate,
    make_settings,
    make_spec,
    workflow_pod,
)
from tests.runtime.executors.rendered import workload_of

DOC_SETTINGS = {"ARGO_PIPELINE_TYPE_CONFIGS": json.dumps(DOC_ARGO_PIPELINE_TYPE_CONFIGS)}


def render(spec: Any = None, **env: str) -> dict[str, Any]:
    executor = argo.from_settings(make_settings(**env))
    return workload_of(executor.render(spec or make_spec()))


def check(workflow: dict[str, Any]) -> None:
    argo_validate(workflow)
    pod = workflow_pod(workflow)
    for version in K8S_VERSIONS:
        k8s_validate(pod, version)


def test_golden_metadata_with_doc_configs() -> None:
    workflow = render(**DOC_SETTINGS)
    check(workflow)
    assert_golden("argo_metadata_doc_configs", workflow)


def test_golden_automation_with_doc_configs() -> None:
    spec = make_spec("tc-1", kind="automation", pipeline_type="automation", fqn="automation.tc-1")
    workflow = render(spec, **DOC_SETTINGS)
    check(workflow)
    assert_golden("argo_automation_doc_configs", workflow)


@pytest.mark.parametrize("pipeline_type", PIPELINE_TYPES)
def test_every_pipeline_type_is_valid_and_placed(pipeline_type: str) -> None:
    kind = "automation" if pipeline_type == "automation" else "pipeline"
    spec = make_spec(f"run-{pipeline_type.lower()}", pipeline_type=pipeline_type, kind=kind)
    workflow = render(spec, **DOC_SETTINGS)
    check(workflow)
    wf_spec = workflow["spec"]
    container = wf_spec["templates"][0]["container"]
    expected = DOC_ARGO_PIPELINE_TYPE_CONFIGS.get(pipeline_type, {})
    if "toleration" in expected:
        assert wf_spec["tolerations"] == [
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": expected["toleration"],
                "effect": "NoSchedule",
            }
        ]
    else:
        assert "tolerations" not in wf_spec
    assert wf_spec.get("nodeSelector") == expected.get("nodeSelector")
    assert wf_spec.get("affinity") == expected.get("affinity")
    assert wf_spec.get("podPriorityClassName") == expected.get("priorityClass")
    limits = expected.get("resources", {}).get("limits", {})
    for resource, quantity in limits.items():
        assert container["resources"]["limits"][resource] == quantity
    assert container["command"] == (
        ["python", "run_automation.py"] if kind == "automation" else ["python", "main.py"]
    )
    assert wf_spec["podMetadata"]["labels"]["hybrid-runner.io/pipeline-type"] == pipeline_type


def test_workflow_shape() -> None:
    workflow = render(ARGO_SECONDS_AFTER_COMPLETION_TTL="3600")
    spec = workflow["spec"]
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1"
    assert workflow["kind"] == "Workflow"
    assert workflow["metadata"]["name"] == make_spec().run_name
    assert workflow["metadata"]["namespace"] == "ingestion"
    assert spec["entrypoint"] == "main"
    assert [t["name"] for t in spec["templates"]] == ["main"]
    assert spec["templates"][0]["container"]["command"], "a template without command breaks Argo"
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 3600}
    assert spec["serviceAccountName"] == "ingestion"
    assert spec["podGC"]["strategy"] == "OnPodSuccess"
    assert spec["podMetadata"]["annotations"]["hybrid-runner.io/run-id"] == "run-0001"
    assert spec["activeDeadlineSeconds"] == 21600, "RUN_TIMEOUT_SECONDS' 6 h by default"
    assert "executor" not in spec


def test_active_deadline_and_no_automount() -> None:
    executor = argo.from_settings(
        make_settings(INGESTION_AUTOMOUNT_SA_TOKEN="false", RUN_TIMEOUT_SECONDS="7200")
    )
    workflow = executor.render(make_spec())[0]
    check(workflow)
    assert workflow["spec"]["activeDeadlineSeconds"] == 7200
    assert workflow["spec"]["automountServiceAccountToken"] is False
    assert workflow["spec"]["executor"] == {"serviceAccountName": "ingestion"}


def test_custom_config_files_are_merged(tmp_path: Path) -> None:
    wf_file = tmp_path / "workflow-params.yaml"
    wf_file.write_text(
        "tolerations:\n"
        "  - {key: spot, operator: Exists, effect: NoSchedule}\n"
        "nodeSelector: {kubernetes.io/arch: amd64}\n"
        "podMetadata:\n  labels: {team: data}\n"
    )
    c_file = tmp_path / "container-params.json"
    c_file.write_text(
        json.dumps(
            {
                "env": [{"name": "HTTP_PROXY", "value": "http://proxy:3128"}],
                "securityContext": {"runAsUser": 1000},
                "imagePullPolicy": "Always",
            }
        )
    )
    workflow = render(
        ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(wf_file),
        ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH=str(c_file),
        **DOC_SETTINGS,
    )
    check(workflow)
    spec = workflow["spec"]
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ingestion", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
    ]
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert spec["podMetadata"]["labels"]["team"] == "data"
    assert spec["podMetadata"]["labels"]["hybrid-runner.io/run-id"] == "run-0001"
    container = spec["templates"][0]["container"]
    assert container["env"][-1] == {"name": "HTTP_PROXY", "value": "http://proxy:3128"}
    assert container["env"][0]["name"] == "config"
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["imagePullPolicy"] == "Always"
    assert_golden("argo_metadata_custom_config", workflow)


def test_the_public_charts_priority_class_name_example_places_the_pod() -> None:
    chart_example = '{"automation":{"priorityClassName":"high-priority"}}'
    spec = make_spec("tc-1", kind="automation", pipeline_type="automation", fqn="automation.tc-1")
    workflow = render(spec, ARGO_PIPELINE_TYPE_CONFIGS=chart_example)
    check(workflow)
    assert workflow["spec"]["podPriorityClassName"] == "high-priority"
    assert "podPriorityClassName" not in render()["spec"]


def test_priority_class_name_in_workflow_params_is_the_pod_priority_class(tmp_path: Path) -> None:
    """The same customConfig file means the same for a Job and a Workflow."""
    wf_file = tmp_path / "workflow-params.yaml"
    wf_file.write_text("priorityClassName: high-priority\n")
    workflow = render(ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(wf_file))
    check(workflow)
    assert workflow["spec"]["podPriorityClassName"] == "high-priority"
    assert "priorityClassName" not in workflow["spec"]


@pytest.mark.parametrize("shape", sorted(SECURITY_ENVS))
def test_security_context_on_the_workflow_pod(shape: str) -> None:
    """Pod-level ids go in the Workflow's spec.securityContext, which Argo puts on the pod: its
    own init and wait containers (numeric user of argoexec) run under them as well."""
    workflow = render(**SECURITY_ENVS[shape])
    check(workflow)
    pod_sc = workflow["spec"]["securityContext"]
    container_sc = workflow["spec"]["templates"][0]["container"]["securityContext"]
    assert_security_contexts(pod_sc, container_sc, shape)
    assert not {"runAsUser", "runAsGroup"} & set(container_sc), "ids on the pod only"


def test_cron_workflow_is_valid() -> None:
    settings = make_settings(**DOC_SETTINGS)
    spec = ScheduleSpec(
        pipeline_fqn="mysql_prod.mysql_prod_metadata_Ab12",
        pipeline_type="metadata",
        config={"source": {"type": "mysql"}},
        image="registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        schedule="0 */6 * * *",
        timezone="Europe/Madrid",
        enabled=False,
    )
    cron = cron_workflow_manifest(
        settings,
        spec,
        placements=parse_pipeline_type_configs(DOC_ARGO_PIPELINE_TYPE_CONFIGS, "argo"),
    )
    argo_validate(cron)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["suspend"] is True
    assert cron["spec"]["schedules"] == ["0 */6 * * *"]
    env = cron["spec"]["workflowSpec"]["templates"][0]["container"]["env"]
    # Each run's ingestion process gets its Workflow's uid, the runner's run id for it.
    assert {"name": "pipelineRunId", "value": "{{workflow.uid}}"} in env
    assert_golden("argo_cron_workflow", cron)


def test_render_is_pure_and_deterministic() -> None:
    settings = make_settings()
    a = workflow_manifest(settings, make_spec())
    b = workflow_manifest(settings, make_spec())
    assert a == b
    a["spec"]["templates"][0]["container"]["env"].clear()
    assert workflow_manifest(settings, make_spec()) == b


def wf(
    phase: str | None = None,
    *,
    shutdown: str | None = None,
    message: str | None = None,
    nodes: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "om-x", "annotations": annotations or {}},
        "spec": {},
        "status": {},
    }
    if phase is not None:
        obj["status"]["phase"] = phase
        obj["status"]["startedAt"] = "2024-05-01T10:00:00Z"
    if phase in ("Succeeded", "Failed", "Error"):
        obj["status"]["finishedAt"] = "2024-05-01T10:05:00Z"
    if shutdown:
        obj["spec"]["shutdown"] = shutdown
    if message:
        obj["status"]["message"] = message
    if nodes:
        obj["status"]["nodes"] = nodes
    return obj


@pytest.mark.parametrize(
    ("obj", "state", "reason"),
    [
        (wf(None), "queued", None),
        (wf(""), "queued", None),
        (wf("Pending"), "queued", None),
        (wf("Running"), "running", None),
        (wf("Succeeded"), "success", None),
        (wf("Failed", message="child failed"), "failed", "Failed"),
        (wf("Error", message="pod deleted"), "failed", "Error"),
        (
            wf("Failed", shutdown="Terminate", message="Stopped with strategy 'Terminate'"),
            "stopped",
            "Killed",
        ),
        (wf("Failed", shutdown="Stop"), "stopped", "Killed"),
        (wf("Running", shutdown="Terminate"), "running", None),
        (wf("Succeeded", shutdown="Stop"), "success", None),
        (
            wf("Failed", message="Pod was active on the node longer than the specified deadline"),
            "failed",
            "DeadlineExceeded",
        ),
        (
            wf("Failed", nodes={"om-x": {"type": "Pod", "message": "OOMKilled (exit code 137)"}}),
            "failed",
            "OOMKilled",
        ),
        (
            wf(
                "Failed",
                shutdown="Terminate",
                annotations={
                    "hybrid-runner.io/failure-reason": "ImagePullBackOff",
                    "hybrid-runner.io/failure-message": "cannot pull",
                },
            ),
            "failed",
            "ImagePullBackOff",
        ),
    ],
)
def test_phase_mapping(obj: dict[str, Any], state: str, reason: str | None) -> None:
    result = workflow_state(obj)
    assert result.state == state
    assert result.reason == reason
    if state in ("success", "failed", "stopped"):
        assert result.end_date == 1714557900000
    if obj["status"].get("startedAt"):
        assert result.start_date == 1714557600000


def test_failure_message_prefers_the_pod_node() -> None:
    obj = wf(
        "Failed",
        message="child 'om-x' failed",
        nodes={"om-x": {"type": "Pod", "message": "Error (exit code 1)"}},
    )
    assert workflow_state(obj).message == "child 'om-x' failed: Error (exit code 1)"


def test_argos_init_and_wait_containers_are_hardened_like_main() -> None:
    """The Pod Security Standards' restricted profile holds for Argo's own containers too,
    whatever the workflow-controller's executor configuration says."""
    template = render()["spec"]["templates"][0]
    patch = json.loads(template["podSpecPatch"])
    hardened = template["container"]["securityContext"]
    assert patch == {
        "initContainers": [{"name": "init", "securityContext": hardened}],
        "containers": [{"name": "wait", "securityContext": hardened}],
    }
    assert hardened["allowPrivilegeEscalation"] is False
    assert hardened["capabilities"] == {"drop": ["ALL"]}
