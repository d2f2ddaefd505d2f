"""The customConfig files for both executors: what each workflow params key means for a Job,
the warnings naming the keys that mean nothing there, and the checks shared with Argo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.executors import validate_settings_for
from runtime.executors.kube.custom_config import (
    JOB_KEYS,
    argo_workflow_params,
    job_params,
    spec_files,
)
from runtime.wire.errors import ConfigError
from tests.runtime.executors.k8s_support import make_settings

#: Argo WorkflowSpec fields that have no counterpart in a Job (or in what the runner creates).
NO_MEANING_FOR_A_JOB = (
    "podGC",
    "retryStrategy",
    "onExit",
    "hooks",
    "arguments",
    "parallelism",
    "archiveLogs",
    "artifactRepositoryRef",
    "podSpecPatch",
    "podDisruptionBudget",
    "synchronization",
    "volumeClaimTemplates",
    "workflowMetadata",
)


def test_pod_fields_go_to_the_pod_spec_under_their_own_name() -> None:
    params = {
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x"}],
        "nodeSelector": {"pool": "ingestion"},
        "affinity": {"nodeAffinity": {}},
        "schedulerName": "volcano",
        "priorityClassName": "high-priority",
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.internal"]}],
        "dnsPolicy": "ClusterFirst",
    }
    mapped = job_params(params)
    assert mapped.pod_spec == params
    assert mapped.warnings == ()
    assert mapped.job_spec == {} and mapped.pod_metadata == {}


def test_renamed_keys_go_where_a_job_has_them() -> None:
    mapped = job_params(
        {
            "podPriorityClassName": "low",
            "podMetadata": {"labels": {"team": "data"}, "annotations": {"a": "b"}},
            "activeDeadlineSeconds": 7200,
            "ttlStrategy": {"secondsAfterCompletion": 600},
        }
    )
    assert mapped.pod_spec == {"priorityClassName": "low"}
    assert mapped.pod_metadata == {"labels": {"team": "data"}, "annotations": {"a": "b"}}
    assert mapped.job_spec == {"activeDeadlineSeconds": 7200, "ttlSecondsAfterFinished": 600}
    assert mapped.warnings == ()


@pytest.mark.parametrize("key", NO_MEANING_FOR_A_JOB)
def test_a_key_without_meaning_for_a_job_is_ignored_with_a_warning_naming_it(key: str) -> None:
    mapped = job_params({key: {}, "nodeSelector": {"a": "b"}})
    assert mapped.pod_spec == {"nodeSelector": {"a": "b"}}
    (warning,) = mapped.warnings
    assert f"$.{key} has no meaning for a Kubernetes Job" in warning
    assert warning.startswith("ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH:")
    assert key not in JOB_KEYS


def test_ttl_strategy_keys_a_job_cannot_express_are_named() -> None:
    mapped = job_params({"ttlStrategy": {"secondsAfterSuccess": 60, "secondsAfterCompletion": 9}})
    assert mapped.job_spec == {"ttlSecondsAfterFinished": 9}
    assert "$.ttlStrategy.secondsAfterSuccess has no meaning" in mapped.warnings[0]


def test_a_misspelt_key_gets_a_suggestion() -> None:
    (warning,) = job_params({"tolerationz": []}).warnings
    assert "$.tolerationz has no meaning" in warning
    assert "did you mean 'tolerations'?" in warning


@pytest.mark.parametrize("key", ["podMetadata", "ttlStrategy"])
def test_an_object_key_with_another_type_names_the_variable(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        job_params({key: ["x"]})
    assert info.value.variable == "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    assert f"$.{key}: expected an object, got a list" in info.value.problem


def test_argo_takes_priority_class_name_as_pod_priority_class_name() -> None:
    assert argo_workflow_params({"priorityClassName": "p", "nodeSelector": {}}) == {
        "nodeSelector": {},
        "podPriorityClassName": "p",
    }
    with pytest.raises(ConfigError, match="priorityClassName and podPriorityClassName"):
        spec_files(make_settings(), {"priorityClassName": "a", "podPriorityClassName": "b"}, {})


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_simplek8s_start_up_validation_reads_both_files(tmp_path: Path) -> None:
    settings = make_settings(
        ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=write(
            tmp_path, "wf.yaml", "tolerations: []\npodGC: {strategy: OnPodSuccess}\n"
        ),
        ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH=write(tmp_path, "c.yaml", "env: []\n"),
    )
    assert validate_settings_for("simpleK8s", settings) == [
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH: $.podGC has no meaning for a Kubernetes Job "
        "(EXECUTOR_TYPE=simpleK8s) and is ignored"
    ]
    # The same file is a valid Workflow spec: no warning with argo.
    assert validate_settings_for("argo", settings) == []


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        ("ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH", "templates: []\n", "$.templates: set by"),
        (
            "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH",
            "env:\n  - {name: config, value: x}\n",
            "config is set by the runner",
        ),
        ("ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH", "name: sidecar\n", "must be named main"),
    ],
)
def test_simplek8s_refuses_what_argo_refuses(
    tmp_path: Path, variable: str, text: str, problem: str
) -> None:
    settings = make_settings(**{variable: write(tmp_path, "f.yaml", text)})
    for executor in ("argo", "simpleK8s"):
        with pytest.raises(ConfigError) as info:
            validate_settings_for(executor, settings)
        assert info.value.variable == variable
        assert problem in info.value.problem


def test_no_files_no_params() -> None:
    workflow, container = spec_files(make_settings())
    assert workflow == {} and container == {}
    empty: dict[str, Any] = {}
    assert job_params(empty).warnings == ()
