"""The security context the chart gives ingestion pods (through the runner's env) and the runner's
own pods, by default and with `openshift.enabled`.

Each test follows the values to the pod the runner would create: the rendered env is parsed by
the runner's own ``Settings.from_env`` and turned into the ingestion pod's securityContext by
``runtime.executors.kube.pod``, so the chart and the runner cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from runtime.executors.kube.pod import container_security_context, pod_security_context
from runtime.settings import Settings
from tests.helm.helmkit import (
    MINIMAL,
    Rendered,
    fullname,
    merge,
    render,
    validate_objects,
    with_env_token,
)

IDS = ("runAsUser", "runAsGroup", "fsGroup")
ID_VARIABLES = ("INGESTION_RUN_AS_USER", "INGESTION_RUN_AS_GROUP", "INGESTION_FS_GROUP")
ECR_ON: dict[str, Any] = {
    "ecrRegistryHelper": {
        "enabled": True,
        "collateCredentials": {"values": {"accessKeyId": "AKIA", "secretAccessKey": "s"}},
    },
}


def ingestion(values: dict[str, Any]) -> dict[str, Any]:
    return {"config": {"ingestionPods": {"securityContext": values}}}


def runner_settings(rendered: Rendered) -> Settings:
    return Settings.from_env(with_env_token(rendered.env_values), require_server=True)


def ecr_pod_specs(rendered: Rendered) -> list[dict[str, Any]]:
    cron = rendered.one("CronJob", f"{fullname()}-ecr")
    hook = rendered.one("Job", f"{fullname()}-ecr-init")
    return [
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        hook["spec"]["template"]["spec"],
    ]


def test_default_ingestion_pods_run_as_the_openmetadata_user() -> None:
    rendered = render(MINIMAL)
    env = rendered.env_values
    assert [env[name] for name in ID_VARIABLES] == ["1000", "1000", "1000"]
    assert env["INGESTION_RUN_AS_NON_ROOT"] == "true"
    settings = runner_settings(rendered)
    assert pod_security_context(settings) == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container_security_context(settings) == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_values_reach_the_ingestion_pod() -> None:
    values = ingestion({"runAsUser": 2000, "runAsGroup": 3000, "fsGroup": 4000})
    rendered = render(merge(MINIMAL, values))
    env = rendered.env_values
    assert [env[name] for name in ID_VARIABLES] == ["2000", "3000", "4000"]
    context = pod_security_context(runner_settings(rendered))
    assert [context[key] for key in IDS] == [2000, 3000, 4000]


@pytest.mark.parametrize(("key", "variable"), list(zip(IDS, ID_VARIABLES, strict=True)))
def test_a_null_id_renders_empty_and_is_omitted(key: str, variable: str) -> None:
    """null in the values (Helm then drops the key) means: no id, not the runner's default."""
    rendered = render(merge(MINIMAL, ingestion({key: None})))
    assert rendered.env_values[variable] == ""
    context = pod_security_context(runner_settings(rendered))
    assert key not in context
    assert all(context[other] == 1000 for other in IDS if other != key)


def test_an_image_that_needs_root() -> None:
    rendered = render(merge(MINIMAL, ingestion({"runAsUser": 0, "runAsNonRoot": False})))
    env = rendered.env_values
    assert env["INGESTION_RUN_AS_USER"] == "0"
    assert env["INGESTION_RUN_AS_NON_ROOT"] == "false"
    settings = runner_settings(rendered)
    assert pod_security_context(settings)["runAsUser"] == 0
    assert container_security_context(settings)["runAsNonRoot"] is False


def test_root_with_run_as_non_root_fails_at_install() -> None:
    with pytest.raises(helm_python.HelmError, match=r"runAsUser 0 .*runAsNonRoot"):
        render(merge(MINIMAL, ingestion({"runAsUser": 0})))


def test_openshift_sets_no_fixed_ids_anywhere() -> None:
    values = merge(MINIMAL, ECR_ON, {"openshift": {"enabled": True}})
    rendered = render(values)
    validate_objects(rendered)
    env = rendered.env_values
    assert [env[name] for name in ID_VARIABLES] == ["", "", ""]
    assert env["INGESTION_RUN_AS_NON_ROOT"] == "true"
    settings = runner_settings(rendered)
    assert pod_security_context(settings) == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The runner pod: what Collate's chart renders on OpenShift, and the rest of our hardening.
    pod_sc = rendered.pod["spec"]["securityContext"]
    assert pod_sc == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container_sc = rendered.container["securityContext"]
    assert container_sc["runAsNonRoot"] is True
    assert container_sc["allowPrivilegeEscalation"] is False
    assert container_sc["capabilities"] == {"drop": ["ALL"]}
    for spec in ecr_pod_specs(rendered):
        assert not set(IDS) & set(spec["securityContext"]), "the ECR helper too"
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_openshift_wins_over_ids_in_the_values() -> None:
    values = merge(
        MINIMAL,
        ingestion({"runAsUser": 2000}),
        {
            "openshift": {"enabled": True},
            "podSecurityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
            "securityContext": {"runAsUser": 10001, "runAsGroup": 10001},
        },
    )
    rendered = render(values)
    assert [rendered.env_values[name] for name in ID_VARIABLES] == ["", "", ""]
    assert not set(IDS) & set(rendered.pod["spec"]["securityContext"])
    assert not set(IDS) & set(rendered.container["securityContext"])
    # Root is not a fixed id: OpenShift's own policy decides about it.
    render(merge(values, ingestion({"runAsUser": 0})))


def test_off_openshift_the_runner_and_the_ecr_helper_keep_their_ids() -> None:
    rendered = render(merge(MINIMAL, ECR_ON))
    pod_sc = rendered.pod["spec"]["securityContext"]
    assert [pod_sc[key] for key in IDS] == [10001, 10001, 10001]
    for spec in ecr_pod_specs(rendered):
        assert spec["securityContext"]["runAsUser"] == 65534


def test_extra_envs_still_replace_the_charts_variables() -> None:
    values = merge(MINIMAL, {"extraEnvs": [{"name": "INGESTION_RUN_AS_USER", "value": "4242"}]})
    rendered = render(values)
    assert rendered.env_values["INGESTION_RUN_AS_USER"] == "4242"
    assert runner_settings(rendered).ingestion_run_as_user == 4242
