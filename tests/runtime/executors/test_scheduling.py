"""Per pipeline type placement, the customConfig files and start-up validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.executors import validate_settings_for
from runtime.executors.kube.custom_config import deep_merge, load_spec_file
from runtime.executors.scheduling import (
    PIPELINE_TYPES,
    Placement,
    merge_resources,
    parse_pipeline_type_configs,
)
from runtime.wire.errors import ConfigError
from tests.runtime.executors.k8s_support import (
    DOC_ARGO_PIPELINE_TYPE_CONFIGS,
    DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS,
    make_settings,
)


def test_openmetadata_pipeline_types_and_automation_are_known() -> None:
    for name in (
        "metadata",
        "usage",
        "lineage",
        "profiler",
        "autoClassification",
        "TestSuite",
        "dataInsight",
        "elasticSearchReindex",
        "dbt",
        "application",
        "automation",
    ):
        assert name in PIPELINE_TYPES


def test_argo_doc_example_parses() -> None:
    configs = parse_pipeline_type_configs(DOC_ARGO_PIPELINE_TYPE_CONFIGS, "argo")
    assert set(configs) == {"automation", "metadata", "profiler"}
    metadata = configs["metadata"]
    assert metadata.tolerations == (
        {"key": "dedicated", "operator": "Equal", "value": "ingestion", "effect": "NoSchedule"},
    )
    assert metadata.priority_class == "ingestion-high"
    assert metadata.affinity is not None and "nodeAffinity" in metadata.affinity
    assert configs["profiler"].resources == {"limits": {"memory": "8Gi"}}
    assert configs["automation"].node_selector == {"workload": "automation"}


def test_simplek8s_doc_example_parses() -> None:
    configs = parse_pipeline_type_configs(DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS, "simpleK8s")
    assert configs["profiler"].tolerations == (
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"},
    )
    assert configs["metadata"].node_selector == {"node-pool": "ingestion"}
    assert configs["profiler"].resources == {
        "requests": {"memory": "4Gi"},
        "limits": {"memory": "8Gi"},
    }


def test_placement_pod_fields_use_the_executors_priority_key() -> None:
    placement = Placement(priority_class="high", node_selector={"a": "b"})
    assert placement.pod_fields(priority_key="priorityClassName") == {
        "nodeSelector": {"a": "b"},
        "priorityClassName": "high",
    }
    assert (
        placement.pod_fields(priority_key="podPriorityClassName")["podPriorityClassName"] == "high"
    )


@pytest.mark.parametrize("flavor", ["argo", "simpleK8s"])
def test_priority_class_name_is_an_alias_of_priority_class(flavor: Any) -> None:
    """The public chart's own example: ``{"automation":{"priorityClassName":"high-priority"}}``."""
    alias = parse_pipeline_type_configs(
        {"automation": {"priorityClassName": " high-priority "}}, flavor
    )
    plain = parse_pipeline_type_configs({"automation": {"priorityClass": "high-priority"}}, flavor)
    assert alias == plain
    assert alias["automation"].priority_class == "high-priority"


@pytest.mark.parametrize("flavor", ["argo", "simpleK8s"])
def test_priority_class_and_its_alias_together_are_refused(flavor: Any) -> None:
    raw = {"metadata": {"priorityClass": "a", "priorityClassName": "a"}}
    with pytest.raises(ConfigError, match=r"\$.metadata: priorityClass and priorityClassName"):
        parse_pipeline_type_configs(raw, flavor)
    with pytest.raises(ConfigError, match=r"\$.metadata.priorityClassName: expected a non-empty"):
        parse_pipeline_type_configs({"metadata": {"priorityClassName": 3}}, flavor)


BAD_ARGO: list[tuple[Any, str]] = [
    ({"metdata": {}}, "$.metdata: unknown pipeline type (did you mean 'metadata'?)"),
    ({"testSuite": {}}, "did you mean 'TestSuite'? pipeline types are case-sensitive"),
    ({"metadata": []}, "$.metadata: expected an object, got a list"),
    ({"metadata": {"toleration": 3}}, "$.metadata.toleration: expected a non-empty string"),
    ({"metadata": {"toleration": "a b"}}, "$.metadata.toleration: 'a b' is not a valid taint"),
    ({"metadata": {"tolerations": []}}, "$.metadata.tolerations: unknown field; ARGO_PIPELINE"),
    (
        {"metadata": {"nodeSelector": {"pool": 1}}},
        "$.metadata.nodeSelector.pool: expected a string",
    ),
    ({"metadata": {"nodeSelector": "pool=x"}}, "$.metadata.nodeSelector: expected an object"),
    ({"metadata": {"affinity": {"nodeAfinity": {}}}}, "$.metadata.affinity.nodeAfinity: unknown"),
    ({"metadata": {"priorityClass": ""}}, "$.metadata.priorityClass: expected a non-empty string"),
    ({"metadata": {"resources": {"limit": {}}}}, "$.metadata.resources.limit: unknown field"),
    (
        {"metadata": {"resources": {"limits": {"memory": "4 GB"}}}},
        "$.metadata.resources.limits.memory: '4 GB' is not a Kubernetes quantity",
    ),
    (
        {"metadata": {"resources": {"limits": {"memory": True}}}},
        "$.metadata.resources.limits.memory: expected a quantity",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_ARGO)
def test_argo_configs_errors_name_variable_and_json_path(raw: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_type_configs(raw, "argo")
    assert info.value.variable == "ARGO_PIPELINE_TYPE_CONFIGS"
    assert expected in str(info.value)


BAD_SIMPLE: list[tuple[Any, str]] = [
    ({"metadata": {"toleration": "x"}}, "$.metadata.toleration: unknown field; SIMPLEK8S"),
    ({"metadata": {"affinity": {}}}, "affinity is only available in ARGO_PIPELINE_TYPE_CONFIGS"),
    ({"metadata": {"tolerations": {"key": "a"}}}, "$.metadata.tolerations: expected a list"),
    ({"metadata": {"tolerations": ["a"]}}, "$.metadata.tolerations[0]: expected a toleration"),
    (
        {"metadata": {"tolerations": [{"key": "a", "effect": "NoScheduled"}]}},
        "$.metadata.tolerations[0].effect: expected one of NoSchedule",
    ),
    (
        {"metadata": {"tolerations": [{"key": "a", "operator": "In"}]}},
        "$.metadata.tolerations[0].operator: expected Equal or Exists",
    ),
    (
        {"metadata": {"tolerations": [{"key": "a", "operator": "Exists", "value": "v"}]}},
        "$.metadata.tolerations[0].value: must be empty when operator is Exists",
    ),
    (
        {"metadata": {"tolerations": [{"key": "a", "tolerationSeconds": "5"}]}},
        "$.metadata.tolerations[0].tolerationSeconds: expected an integer",
    ),
    (
        {"metadata": {"tolerations": [{"key": "a", "colour": "red"}]}},
        "$.metadata.tolerations[0].colour: unknown field",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_SIMPLE)
def test_simplek8s_configs_errors_name_variable_and_json_path(raw: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_type_configs(raw, "simpleK8s")
    assert info.value.variable == "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
    assert expected in str(info.value)


def test_numeric_quantities_are_accepted_as_strings() -> None:
    configs = parse_pipeline_type_configs(
        {"dbt": {"resources": {"requests": {"cpu": 2, "memory": "1.5Gi"}}}}, "simpleK8s"
    )
    assert configs["dbt"].resources == {"requests": {"cpu": "2", "memory": "1.5Gi"}}


def test_merge_resources_overrides_per_key() -> None:
    base = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    assert merge_resources(base, {"limits": {"memory": "8Gi", "cpu": "2"}}) == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"memory": "8Gi", "cpu": "2"},
    }


def test_deep_merge_appends_tolerations_and_env_and_overrides_scalars() -> None:
    base = {
        "tolerations": [{"key": "dedicated", "value": "a"}],
        "nodeSelector": {"x": "1"},
        "serviceAccountName": "ingestion",
        "templates": [{"name": "main"}],
    }
    overlay = {
        "tolerations": [{"key": "spot", "operator": "Exists"}, {"key": "dedicated", "value": "a"}],
        "nodeSelector": {"y": "2"},
        "serviceAccountName": "other",
    }
    merged = deep_merge(base, overlay)
    assert merged["tolerations"] == [
        {"key": "dedicated", "value": "a"},
        {"key": "spot", "operator": "Exists"},
    ]
    assert merged["nodeSelector"] == {"x": "1", "y": "2"}
    assert merged["serviceAccountName"] == "other"
    assert base["tolerations"] == [{"key": "dedicated", "value": "a"}], "base must not change"


def test_spec_files_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "workflow-params.yaml"
    yml.write_text("tolerations:\n  - key: spot\n    operator: Exists\n    effect: NoSchedule\n")
    js = tmp_path / "container.json"
    js.write_text(json.dumps({"securityContext": {"runAsUser": 1000}}))
    assert load_spec_file("V", str(yml))["tolerations"][0]["key"] == "spot"
    assert load_spec_file("V", str(js)) == {"securityContext": {"runAsUser": 1000}}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_spec_file("V", str(empty)) == {}
    assert load_spec_file("V", "") == {}


def test_spec_file_missing_or_unparseable_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_spec_file("ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH", str(tmp_path / "nope.yaml"))
    assert info.value.variable == "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    assert "cannot read" in info.value.problem
    bad = tmp_path / "bad.yaml"
    bad.write_text("tolerations: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_spec_file("ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH", str(bad))
    assert info.value.variable == "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH"
    assert "line" in info.value.problem
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_spec_file("V", str(listy))


def test_validate_settings_for_warns_about_the_other_executors_variable() -> None:
    argo = json.dumps({"metadata": {"toleration": "x"}})
    simple = json.dumps({"metadata": {"tolerations": []}})
    settings = make_settings(
        ARGO_PIPELINE_TYPE_CONFIGS=argo, SIMPLEK8S_PIPELINE_TYPE_CONFIGS=simple
    )
    warnings = validate_settings_for("argo", settings)
    assert warnings == [
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=argo"
    ]
    warnings = validate_settings_for("simpleK8s", settings)
    assert warnings == [
        "ARGO_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=simpleK8s"
    ]
    assert len(validate_settings_for("local", settings)) == 2
    assert validate_settings_for("argo", make_settings()) == []


def test_validate_settings_for_raises_for_its_own_variable_only() -> None:
    settings = make_settings(ARGO_PIPELINE_TYPE_CONFIGS=json.dumps({"metadata": {"bad": 1}}))
    with pytest.raises(ConfigError) as info:
        validate_settings_for("argo", settings)
    assert info.value.variable == "ARGO_PIPELINE_TYPE_CONFIGS"
    # With simpleK8s the Argo variable is not used: a warning, not an error.
    assert validate_settings_for("simpleK8s", settings)[0].startswith("ARGO_PIPELINE_TYPE_CONFIGS")


def test_validate_settings_for_checks_spec_files(tmp_path: Path) -> None:
    settings = make_settings(ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError) as info:
        validate_settings_for("argo", settings)
    assert info.value.variable == "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    # Collate's chart sets the customConfig files in simple mode too: simpleK8s reads them
    # (it warned "no effect" before issue 12), so a missing file is an error there as well.
    with pytest.raises(ConfigError) as info:
        validate_settings_for("simpleK8s", settings)
    assert info.value.variable == "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    assert len(validate_settings_for("local", settings)) == 1
    reserved = tmp_path / "wf.yaml"
    reserved.write_text("entrypoint: other\n")
    with pytest.raises(ConfigError, match=r"\$.entrypoint: set by the runner"):
        validate_settings_for(
            "argo", make_settings(ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH=str(reserved))
        )
    contract = tmp_path / "c.yaml"
    contract.write_text("env:\n  - name: pipelineRunId\n    value: x\n")
    with pytest.raises(ConfigError, match="pipelineRunId is set by the runner"):
        validate_settings_for(
            "argo", make_settings(ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH=str(contract))
        )


def test_a_null_value_is_refused_like_any_wrong_type() -> None:
    """None only stands for an absent key: ``"nodeSelector": null`` is an error, not nothing."""
    with pytest.raises(ConfigError, match=r"\$.metadata.nodeSelector: expected an object"):
        parse_pipeline_type_configs({"metadata": {"nodeSelector": None}}, "argo")
    with pytest.raises(ConfigError, match=r"\$.metadata.tolerations\[0\].key: expected a string"):
        parse_pipeline_type_configs({"metadata": {"tolerations": [{"key": None}]}}, "simpleK8s")


def test_every_bad_value_of_an_entry_is_named_by_its_path() -> None:
    raw = {"profiler": {"toleration": 3, "resources": {"limits": {"memory": "4 GB"}}}}
    with pytest.raises(ConfigError) as info:
        parse_pipeline_type_configs(raw, "argo")
    assert "$.profiler.toleration: expected a non-empty string" in info.value.problem
    assert "$.profiler.resources.limits.memory: '4 GB' is not a Kubernetes quantity" in (
        info.value.problem
    )
