"""The chart rendered and linted for the installs the docs describe, object by object.

Each scenario is a values file a user would write; every rendered object is validated against
the Kubernetes 1.28 and newest schemas, the runner's env must be accepted by the runner's own
``Settings.from_env``, and the RBAC must be exactly what ``runtime.permissions`` declares.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import helm_python
import pytest

from runtime import permissions
from runtime.settings import VARIABLES
from tests.helm.helmkit import (
    CHART_DIR,
    NAMESPACE,
    TOKEN,
    Rendered,
    fullname,
    render,
    runner_settings,
    validate_objects,
)
from tests.helm.scenarios import (
    INGESTION_SA,
    SCENARIOS,
)

#: Variables the cloud SDKs read themselves; the chart may pass them (via extraEnvs) too.
CLOUD_SDK_VARIABLES = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
}
RUNNER_VARIABLES = {v.name for v in VARIABLES}


def _executor(values: dict[str, Any]) -> str:
    return values.get("executor") or "simpleK8s"


def _secrets_manager(values: dict[str, Any]) -> str:
    manager: str = values["config"].get("secretsManager", "kubernetes")
    return manager


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], Rendered]:
    name: str = request.param
    values = SCENARIOS[name]
    return name, values, render(values)


def test_every_object_is_valid_kubernetes(scenario: tuple[str, dict[str, Any], Rendered]) -> None:
    _, _, rendered = scenario
    validate_objects(rendered)


def test_lint_is_clean(scenario: tuple[str, dict[str, Any], Rendered]) -> None:
    _, values, _ = scenario
    report = helm_python.lint(str(CHART_DIR), values, namespace=NAMESPACE, kube_version="v1.28.0")
    # The only finding allowed: the optional argo-workflows subchart is not fetched here.
    problems = [
        m
        for m in report["messages"]
        if m["severity"] >= 2 and "missing these dependencies: argo-workflows" not in m["error"]
    ]
    assert problems == []
    assert all("argo-workflows" in e for e in report["errors"])


def test_env_is_what_the_runner_reads(
    scenario: tuple[str, dict[str, Any], Rendered], tmp_path: Path
) -> None:
    _, _, rendered = scenario
    names = set(rendered.env)
    assert names <= RUNNER_VARIABLES | CLOUD_SDK_VARIABLES, names - RUNNER_VARIABLES
    settings = runner_settings(rendered, tmp_path)
    assert settings.server_url.startswith("wss://")
    assert settings.metrics_port == rendered.container["ports"][0]["containerPort"]
    assert settings.state_dir == "/var/lib/hybrid-runner"
    grace = rendered.pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_grace + 10


def test_token_only_in_a_secret(scenario: tuple[str, dict[str, Any], Rendered]) -> None:
    _, values, rendered = scenario
    ref = rendered.token_secret
    configured = values["config"].get("authTokenSecret", {})
    if configured.get("name") and not values["config"].get("authToken"):
        assert ref == {"name": configured["name"], "key": configured["key"]}
        assert not [s for s in rendered.all("Secret") if s["metadata"]["name"] == fullname()]
    else:
        secret = rendered.one("Secret", ref["name"])
        assert ref["name"] == fullname()
        assert base64.b64decode(secret["data"][ref["key"]]).decode() == TOKEN
    for obj in rendered:
        if obj["kind"] != "Secret":
            assert TOKEN not in json.dumps(obj), f"token in {obj['kind']}"
    assert TOKEN not in rendered.notes


def test_rbac_equals_runtime_permissions(scenario: tuple[str, dict[str, Any], Rendered]) -> None:
    """The no-drift test: the chart's Roles are exactly what runtime.permissions declares."""
    _, values, rendered = scenario
    executor, manager = _executor(values), _secrets_manager(values)
    assert rendered.env_values["EXECUTOR_TYPE"] == executor
    assert rendered.role_rules(fullname()) == permissions.rules_for(executor, manager)
    ingestion = permissions.ingestion_rules_for(executor, manager)
    role_name = f"{fullname()}-ingestion"
    if ingestion:
        assert rendered.role_rules(role_name) == ingestion
        binding = rendered.one("RoleBinding", role_name)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": INGESTION_SA, "namespace": NAMESPACE}
        ]
    else:
        assert not [r for r in rendered.all("Role") if r["metadata"]["name"] == role_name]
    binding = rendered.one("RoleBinding", fullname())
    assert binding["roleRef"]["name"] == fullname()
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": fullname(), "namespace": NAMESPACE}
    ]
    assert not rendered.all("ClusterRole") and not rendered.all("ClusterRoleBinding")


def test_probes_and_security(scenario: tuple[str, dict[str, Any], Rendered]) -> None:
    _, values, rendered = scenario
    container = rendered.container
    assert container["ports"] == [{"name": "metrics", "containerPort": 8989, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    pod_sc = rendered.pod["spec"]["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    if values.get("openshift", {}).get("enabled"):
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(pod_sc), "OpenShift assigns ids"
    else:
        assert pod_sc["runAsUser"] >= 1000
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/lib/hybrid-runner"] == "state" and mounts["/tmp"] == "tmp"
    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    assert "emptyDir" in volumes["state"] and "emptyDir" in volumes["tmp"]


def test_no_object_hard_codes_another_namespace(
    scenario: tuple[str, dict[str, Any], Rendered],
) -> None:
    _, _, rendered = scenario
    for obj in rendered:
        assert obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE
        if (obj["kind"], obj["metadata"]["name"]) == ("ServiceAccount", INGESTION_SA):
            continue  # Collate's fixed name (item 3 of the Collate compatibility issue)
        assert obj["metadata"]["name"].startswith("my-runner-"), obj["metadata"]["name"]


# ---------------------------------------------------------------- scenario specifics
