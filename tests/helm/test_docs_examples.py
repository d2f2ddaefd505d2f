"""Collate's documented values examples, as written there, render and mean what the docs say.

The examples that test_scenarios.py already covers in this project's own forms (IRSA, GKE, own
registry, dynamic version off) are here in the docs' forms: the Azure vault in the ingestion
pods' env, the Terraform's single-string env, scheduling through `additionalPipelineConfigs` and
`customConfig.workflowParams`, and the metrics port and path.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.settings import Settings
from tests.helm.helmkit import MINIMAL, merge, render, with_env_token

VAULT = "acme-collate-vault"


def _settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(with_env_token(env), require_server=True)


@pytest.mark.parametrize(
    "extra_envs",
    [[f"AZURE_KEY_VAULT_NAME:{VAULT}"], f"AZURE_KEY_VAULT_NAME:{VAULT}"],
    ids=["docs-list", "terraform-string"],
)
def test_azure_as_the_docs_write_it(extra_envs: Any) -> None:
    values = merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "managed-azure-kv",
                "ingestionPods": {
                    "extraEnvs": extra_envs,
                    "serviceAccount": {
                        "annotations": {"azure.workload.identity/client-id": "0000-1111"}
                    },
                },
            }
        },
    )
    env = render(values).env_values
    assert json.loads(env["INGESTION_EXTRA_ENVS"]) == {"AZURE_KEY_VAULT_NAME": VAULT}
    # The runner's preflight reads the same vault.
    assert env["AZURE_KEY_VAULT_NAME"] == VAULT
    assert _settings(env).azure_key_vault_name == VAULT


def test_collates_rendered_extra_envs_string_form() -> None:
    values = merge(MINIMAL, {"config": {"ingestionPods": {"extraEnvs": "[A:1,B:two]"}}})
    env = render(values).env_values
    assert json.loads(env["INGESTION_EXTRA_ENVS"]) == {"A": "1", "B": "two"}


@pytest.mark.parametrize(
    ("executor", "variable"),
    [("argo", "ARGO_PIPELINE_TYPE_CONFIGS"), ("simpleK8s", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS")],
)
def test_scheduling_through_additional_pipeline_configs(executor: str, variable: str) -> None:
    configs = '{"automation":{"priorityClassName":"high-priority"}}'
    values = merge(
        MINIMAL,
        {"executor": executor, "config": {"ingestionPods": {"additionalPipelineConfigs": configs}}},
    )
    env = render(values).env_values
    assert env[variable] == configs
    other = {"ARGO_PIPELINE_TYPE_CONFIGS", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"} - {variable}
    assert not other & set(env)
    # As a map, the same configuration arrives as JSON.
    as_map = merge(values, {"config": {"ingestionPods": {"additionalPipelineConfigs": None}}})
    as_map["config"]["ingestionPods"]["additionalPipelineConfigs"] = json.loads(configs)
    assert json.loads(render(as_map).env_values[variable]) == json.loads(configs)


def test_tolerations_through_custom_config_as_the_docs_write_them() -> None:
    toleration = {
        "effect": "NoSchedule",
        "key": "dedicated",
        "operator": "Equal",
        "value": "dedicated-node-group",
    }
    values = merge(
        MINIMAL,
        {
            "config": {
                "ingestionPods": {
                    "customConfig": {
                        "enabled": True,
                        "workflowParams": {"tolerations": [toleration]},
                    }
                }
            }
        },
    )
    rendered = render(values)
    env = rendered.env_values
    assert env["EXECUTOR_TYPE"] == "simpleK8s"
    path = env["ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"]
    config_map = rendered.one("ConfigMap", "my-runner-hybrid-ingestion-runner-ingestion-config")
    assert path.endswith("/workflow-params.yaml")
    assert "dedicated-node-group" in config_map["data"]["workflow-params.yaml"]


def test_metrics_port_and_path_as_the_docs_write_them() -> None:
    values = merge(MINIMAL, {"metricsServerConfiguration": {"port": 9090, "path": "/prom"}})
    rendered = render(values)
    env = rendered.env_values
    assert (env["METRICS_SERVER_PORT"], env["METRICS_SERVER_PATH"]) == ("9090", "/prom")
    assert rendered.container["ports"][0]["containerPort"] == 9090
    settings = _settings(env)
    assert (settings.metrics_port, settings.metrics_path) == (9090, "/prom")
