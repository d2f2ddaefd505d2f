"""Job builders (golden manifests, Kubernetes schema of 1.28 and the newest) and the Job state
mapping. The executor's API behaviour is in test_k8s_executor.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from runtime.composition import check_backends
from runtime.executors.base import ScheduleSpec
from runtime.executors.kube import jobs as simple_k8s
from runtime.executors.kube.jobs import (
    cron_job_manifest,
    job_manifest,
    job_state,
)
from runtime.executors.scheduling import PIPELINE_TYPES, parse_pipeline_type_configs
from tests.runtime.executors.k8s_support import (
    DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS,
    K8S_VERSIONS,
    SECURITY_ENVS,
    argo_validate,
    assert_golden,
    assert_security_contexts,
    k8s_validate,
    make_settings,
    make_spec,
)
from tests.runtime.executors.rendered import workload_of

DOC_SETTINGS = {"SIMPLEK8S_PIPELINE_TYPE_CONFIGS": json.dumps(DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS)}


def render(spec: Any = None, **env: str) -> dict[str, Any]:
    executor = simple_k8s.from_settings(make_settings(**env))
    return workload_of(executor.render(spec or make_spec()))


def check(manifest: dict[str, Any]) -> None:
    for version in K8S_VERSIONS:
        k8s_validate(manifest, version)


def test_golden_metadata_with_doc_configs() -> None:
    job = render(**DOC_SETTINGS)
    check(job)
    assert_golden("job_metadata_doc_configs", job)


def test_golden_automation() -> None:
    spec = make_spec("tc-1", kind="automation", pipeline_type="automation", fqn="automation.tc-1")
    job = render(spec, **DOC_SETTINGS)
    check(job)
    assert_golden("job_automation", job)


@pytest.mark.parametrize("pipeline_type", PIPELINE_TYPES)
def test_every_pipeline_type_is_valid_and_placed(pipeline_type: str) -> None:
    kind = "automation" if pipeline_type == "automation" else "pipeline"
    spec = make_spec(f"run-{pipeline_type.lower()}", pipeline_type=pipeline_type, kind=kind)
    job = render(spec, **DOC_SETTINGS)
    check(job)
    pod = job["spec"]["template"]["spec"]
    expected = DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS.get(pipeline_type, {})
    assert pod.get("tolerations") == expected.get("tolerations")
    assert pod.get("nodeSelector") == expected.get("nodeSelector")
    assert pod.get("priorityClassName") == expected.get("priorityClass")
    assert "affinity" not in pod
    resources = pod["containers"][0]["resources"]
    for section, values in expected.get("resources", {}).items():
        for resource, quantity in values.items():
            assert resources[section][resource] == quantity
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["hybrid-runner.io/pipeline-type"] == pipeline_type
    assert labels["hybrid-runner.io/kind"] == kind


def test_job_shape() -> None:
    executor = simple_k8s.from_settings(
        make_settings(ARGO_SECONDS_AFTER_COMPLETION_TTL="600", RUN_TIMEOUT_SECONDS="3600")
    )
    job = executor.render(make_spec())[0]
    check(job)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == make_spec().run_name
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 600
    assert spec["activeDeadlineSeconds"] == 3600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert [c["name"] for c in pod["containers"]] == ["main"]
    assert pod["serviceAccountName"] == "ingestion"
    assert pod["imagePullSecrets"] == [{"name": "omd-registry-credentials"}]
    assert spec["template"]["metadata"]["annotations"]["hybrid-runner.io/run-id"] == "run-0001"
    assert render()["spec"]["activeDeadlineSeconds"] == 21600, "RUN_TIMEOUT_SECONDS' 6 h"
    assert "activeDeadlineSeconds" not in render(RUN_TIMEOUT_SECONDS="0")["spec"]


def test_the_public_charts_priority_class_name_example_places_the_pod() -> None:
    chart_example = '{"automation":{"priorityClassName":"high-priority"}}'
    spec = make_spec("tc-1", kind="automation", pipeline_type="automation", fqn="automation.tc-1")
    workflow = render(spec, SIMPLEK8S_PIPELINE_TYPE_CONFIGS=chart_example)
    check(workflow)
    assert workflow["spec"]["template"]["spec"]["priorityClassName"] == "high-priority"
    assert "priorityClassName" not in render()["spec"]["template"]["spec"]


def test_custom_config_files_apply_to_the_job(tmp_path: Path) -> None:
    """Collate's chart sets customConfig in simple mode too: the same files as the Argo test,
    plus the Workflow keys that map to a Job field under another name."""
    wf_file = tmp_path / "workflow-params.yaml"
    wf_file.write_text(
        "tolerations:\n"
        "  - {key: spot, operator: Exists, effect: NoSchedule}\n"
        "nodeSelector: {kubernetes.io/arch: amd64}\n"
        "podMetadata:\n  labels: {team: data, hybrid-runner.io/run-id: not-mine}\n"
        "podPriorityClassName: ingestion-low\n"
        "activeDeadlineSeconds: 7200\n"
        "ttlStrategy: {secondsAfterCompletion: 600}\n"
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
    job = render(
        ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(wf_file),
        ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH=str(c_file),
        **DOC_SETTINGS,
    )
    check(job)
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    template = job["spec"]["template"]
    pod = template["spec"]
    # The doc configs' toleration for metadata first, then the file's.
    assert pod["tolerations"][-1] == {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
    assert len(pod["tolerations"]) == 2
    assert pod["nodeSelector"] == {"node-pool": "ingestion", "kubernetes.io/arch": "amd64"}
    assert pod["priorityClassName"] == "ingestion-low"
    # The runner's labels win: they are how it finds its runs.
    assert template["metadata"]["labels"]["team"] == "data"
    assert template["metadata"]["labels"]["hybrid-runner.io/run-id"] == "run-0001"
    container = pod["containers"][0]
    assert container["env"][-1] == {"name": "HTTP_PROXY", "value": "http://proxy:3128"}
    assert container["env"][0]["name"] == "config"
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["imagePullPolicy"] == "Always"
    assert_golden("job_metadata_custom_config", job)


def test_custom_config_applies_to_scheduled_jobs_and_warns_about_argo_only_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wf_file = tmp_path / "workflow-params.yaml"
    wf_file.write_text("nodeSelector: {pool: ingestion}\npodGC: {strategy: OnPodSuccess}\n")
    c_file = tmp_path / "container-params.yaml"
    c_file.write_text("imagePullPolicy: Always\n")
    settings = make_settings(
        EXECUTOR_TYPE="simpleK8s",
        ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(wf_file),
        ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH=str(c_file),
    )
    # As start-up does it: the check logs the warning, building the executor does not repeat it.
    with caplog.at_level(logging.WARNING):
        check_backends(settings)
        executor = simple_k8s.from_settings(settings)
    assert [r.getMessage() for r in caplog.records] == [
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH: $.podGC has no meaning for a Kubernetes Job "
        "(EXECUTOR_TYPE=simpleK8s) and is ignored"
    ]
    spec = ScheduleSpec(
        pipeline_fqn="mysql_prod.mysql_prod_metadata_Ab12",
        pipeline_type="metadata",
        config={"source": {"type": "mysql"}},
        image="registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        schedule="30 2 * * *",
        timezone="UTC",
    )
    cron = workload_of(executor.render_schedule(spec))
    check(cron)
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "ingestion"}
    assert "podGC" not in pod
    assert pod["containers"][0]["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("shape", sorted(SECURITY_ENVS))
def test_security_context_on_the_job_pod(shape: str) -> None:
    job = render(**SECURITY_ENVS[shape])
    check(job)
    pod = job["spec"]["template"]["spec"]
    pod_sc = pod["securityContext"]
    container_sc = pod["containers"][0]["securityContext"]
    assert_security_contexts(pod_sc, container_sc, shape)


def test_schema_check_catches_a_misspelt_field() -> None:
    job = render()
    job["spec"]["template"]["spec"]["restartPolicyy"] = "Never"
    with pytest.raises(pytest.fail.Exception, match="restartPolicyy"):
        k8s_validate(job, K8S_VERSIONS[0])


def test_cron_job_is_valid() -> None:
    spec = ScheduleSpec(
        pipeline_fqn="mysql_prod.mysql_prod_metadata_Ab12",
        pipeline_type="profiler",
        config={"source": {"type": "mysql"}},
        image="registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        schedule="30 2 * * *",
        timezone="UTC",
    )
    cron = cron_job_manifest(
        make_settings(),
        spec,
        placements=parse_pipeline_type_configs(DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS, "simpleK8s"),
    )
    check(cron)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["suspend"] is False
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert_golden("cron_job_profiler", cron)


def test_argo_validation_catches_a_misspelt_field() -> None:
    from runtime.executors.kube.argo import workflow_manifest

    workflow = workflow_manifest(make_settings(), make_spec())
    workflow["spec"]["podGc"] = {"strategy": "OnPodSuccess"}
    with pytest.raises(pytest.fail.Exception, match="podGc"):
        argo_validate(workflow)


def test_render_is_deterministic() -> None:
    assert job_manifest(make_settings(), make_spec()) == job_manifest(make_settings(), make_spec())


def job(conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "om-x", "annotations": status.pop("annotations", {})},
        "status": {"startTime": "2024-05-01T10:00:00Z", "conditions": conditions or [], **status},
    }


def cond(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-05-01T10:05:00Z",
    }


@pytest.mark.parametrize(
    ("obj", "state", "reason"),
    [
        (job(), "queued", None),
        (job(active=1), "running", None),
        (job(active=1, ready=0), "running", None),
        (
            job([cond("Complete")], succeeded=1, completionTime="2024-05-01T10:05:00Z"),
            "success",
            None,
        ),
        (job([cond("SuccessCriteriaMet")]), "success", None),
        (
            job(
                [
                    cond(
                        "Failed",
                        reason="BackoffLimitExceeded",
                        message="Job has reached the specified backoff limit",
                    )
                ]
            ),
            "failed",
            "BackoffLimitExceeded",
        ),
        (
            job(
                [
                    cond(
                        "Failed",
                        reason="DeadlineExceeded",
                        message="Job was active longer than specified deadline",
                    )
                ]
            ),
            "failed",
            "DeadlineExceeded",
        ),
        (
            job([cond("FailureTarget", reason="DeadlineExceeded")], active=1),
            "failed",
            "DeadlineExceeded",
        ),
        (job([cond("Failed", status="False")], active=1), "running", None),
        (
            job(
                [cond("Failed", reason="DeadlineExceeded")],
                annotations={
                    "hybrid-runner.io/failure-reason": "ImagePullBackOff",
                    "hybrid-runner.io/failure-message": "pull failed",
                },
            ),
            "failed",
            "ImagePullBackOff",
        ),
    ],
)
def test_job_state_mapping(obj: dict[str, Any], state: str, reason: str | None) -> None:
    result = job_state(obj)
    assert result.state == state
    assert result.reason == reason
    assert result.start_date == 1714557600000
    if state in ("success", "failed") and obj["status"]["conditions"]:
        assert result.end_date == 1714557900000


def test_job_failure_message_comes_from_the_condition() -> None:
    result = job_state(
        job(
            [
                cond(
                    "Failed",
                    reason="DeadlineExceeded",
                    message="Job was active longer than specified deadline",
                )
            ]
        )
    )
    assert result.message == "Job was active longer than specified deadline"
