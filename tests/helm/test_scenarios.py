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
from runtime.settings import VARIABLES, Settings
from tests.helm.helmkit import (
    CHART_DIR,
    MINIMAL,
    NAMESPACE,
    TOKEN,
    Rendered,
    fullname,
    merge,
    render,
    runner_settings,
    validate_objects,
    with_env_token,
)

#: The docs' per pipeline type scheduling for Argo (a `toleration` string per type).
ARGO_PIPELINE_TYPE_CONFIGS = {
    "automation": {"toleration": "collate-automation", "priorityClass": "collate-high"},
    "metadata": {
        "toleration": "collate-ingestion",
        "nodeSelector": {"collate.io/pool": "ingestion"},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    },
    "profiler": {
        "toleration": "collate-profiler",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "collate.io/pool", "operator": "In", "values": ["big"]}
                            ]
                        }
                    ]
                }
            }
        },
    },
}
#: The docs' per pipeline type scheduling for Kubernetes Jobs (a `tolerations` list per type).
SIMPLEK8S_PIPELINE_TYPE_CONFIGS = {
    "automation": {
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "collate", "effect": "NoSchedule"}
        ]
    },
    "metadata": {
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "collate", "effect": "NoSchedule"}
        ],
        "nodeSelector": {"collate.io/pool": "ingestion"},
        "priorityClass": "collate-batch",
    },
}

ROLE_ARN = "arn:aws:iam::123456789012:role/collate-ingestion-pods"
RUNNER_ROLE_ARN = "arn:aws:iam::123456789012:role/collate-hybrid-runner"
AZURE_CLIENT_ID = "00000000-1111-2222-3333-444444444444"
GKE_SA = "collate-ingestion@acme-data.iam.gserviceaccount.com"
GKE_RUNNER_SA = "collate-runner@acme-data.iam.gserviceaccount.com"

SCENARIOS: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "aws-irsa": merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "managed-aws",
                "ingestionPods": {
                    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}}
                },
            },
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": RUNNER_ROLE_ARN}},
            "extraEnvs": [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}],
        },
    ),
    "azure-workload-identity": merge(
        MINIMAL,
        {
            # Pod labels for ingestion pods come from customConfig.workflowParams: Argo only.
            "executor": "argo",
            "config": {
                "secretsManager": "managed-azure-kv",
                "ingestionPods": {
                    "serviceAccount": {
                        "annotations": {"azure.workload.identity/client-id": AZURE_CLIENT_ID}
                    },
                    "customConfig": {
                        "enabled": True,
                        "workflowParams": {
                            "podMetadata": {"labels": {"azure.workload.identity/use": "true"}}
                        },
                    },
                },
            },
            "serviceAccount": {
                "annotations": {"azure.workload.identity/client-id": AZURE_CLIENT_ID}
            },
            "podLabels": {"azure.workload.identity/use": "true"},
            "extraEnvs": [{"name": "AZURE_KEY_VAULT_NAME", "value": "acme-collate-vault"}],
        },
    ),
    "gke-workload-identity": merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "gcp",
                "ingestionPods": {
                    "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": GKE_SA}}
                },
            },
            "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": GKE_RUNNER_SA}},
            "extraEnvs": [{"name": "GOOGLE_CLOUD_PROJECT", "value": "acme-data"}],
        },
    ),
    "argo-pipeline-type-configs": merge(
        MINIMAL,
        {
            "executor": "argo",
            "extraEnvs": [
                {
                    "name": "ARGO_PIPELINE_TYPE_CONFIGS",
                    "value": json.dumps(ARGO_PIPELINE_TYPE_CONFIGS),
                }
            ],
        },
    ),
    "simplek8s-pipeline-type-configs": merge(
        MINIMAL,
        {
            "executor": "simpleK8s",
            "extraEnvs": [
                {
                    "name": "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
                    "value": json.dumps(SIMPLEK8S_PIPELINE_TYPE_CONFIGS),
                }
            ],
        },
    ),
    "own-registry": merge(
        MINIMAL,
        {
            "image": {"repository": "registry.acme.internal/collate/hybrid-ingestion-runner"},
            "imagePullSecrets": [{"name": "acme-registry"}],
            "config": {
                "dynamicIngestionVersionEnabled": False,
                "ingestionPods": {
                    "repository": "registry.acme.internal/collate/ingestion",
                    "tag": "om-1.11.1-cl-1.11.1",
                    "imagePullSecrets": "acme-registry",
                },
            },
        },
    ),
    "dynamic-version-off-via-extra-envs": merge(
        MINIMAL,
        {"extraEnvs": [{"name": "DYNAMIC_INGESTION_VERSION_ENABLED", "value": "false"}]},
    ),
    "token-from-existing-secret": {
        "config": {
            "agentId": "collate-hybrid-runner",
            "authTokenSecret": {"name": "collate-bot-token", "key": "jwt"},
            "serverHost": "https://acme.getcollate.io",
        },
    },
    "executor-simplek8s": merge(MINIMAL, {"executor": "simpleK8s"}),
    # As Collate's ROSA values: OpenShift assigns the ids, the ECR helper stays off.
    "openshift": merge(
        MINIMAL,
        {
            "openshift": {"enabled": True},
            "imagePullSecrets": [{"name": "omd-registry-credentials"}],
            "config": {
                "ingestionPods": {
                    "repository": "docker.getcollate.io/openmetadata/collate-base",
                    "tag": "om-1.11.10-cl-1.11.10",
                    "imagePullSecrets": "omd-registry-credentials",
                }
            },
        },
    ),
    "everything-on": merge(
        MINIMAL,
        {
            "executor": "argo",
            "replicaCount": 2,
            "podDisruptionBudget": {"enabled": True},
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "prometheusRules": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
            "ecrRegistryHelper": {
                "enabled": True,
                "collateCredentials": {
                    "values": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "ecr-secret"}
                },
            },
            "config": {
                "reconnectDelaySeconds": 5,
                "maxActiveRuns": 10,
                "maxActiveRunsPerType": {"profiler": 2},
                "runTimeoutSeconds": 7200,
                "imagePullGraceSeconds": 300,
                "unschedulableGraceSeconds": 0,
                "argoWorkflows": {"secondsAfterCompletionTTL": 604800},
                "ingestionPods": {
                    "automountSAToken": True,
                    "extraEnvs": ["HTTPS_PROXY=http://proxy.acme:3128", "NO_PROXY:.svc"],
                    "customConfig": {
                        "enabled": True,
                        "workflowParams": {"activeDeadlineSeconds": 7200},
                        "containerParams": {"env": [{"name": "TZ", "value": "UTC"}]},
                    },
                },
            },
        },
    ),
}

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
#: The ingestion service account's name: Collate's, which IRSA / workload-identity trust
#: policies written for Collate's chart name (`system:serviceaccount:<ns>:ingestion`).
INGESTION_SA = "ingestion"


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


def test_minimal_values_give_a_working_runner() -> None:
    rendered = render(SCENARIOS["minimal"])
    env = rendered.env_values
    assert env["AGENT_ID"] == "collate-hybrid-runner"
    assert env["SERVER_URL"] == "wss://acme.getcollate.io"
    assert env["SERVER_HOST_API_URL"] == "https://acme.getcollate.io/api"
    assert env["EXECUTOR_TYPE"] == "simpleK8s"
    assert env["SECRETS_MANAGER"] == "kubernetes"
    assert env["INGESTION_NAMESPACE"] == NAMESPACE
    assert env["INGESTION_SERVICE_ACCOUNT_NAME"] == INGESTION_SA
    assert env["INGESTION_CPU_REQUEST"] == "1000m"
    assert env["INGESTION_AUTOMATION_WORKFLOW_MEMORY_LIMIT"] == "512Mi"
    assert rendered.container["image"] == "hybrid-ingestion-runner:0.1.0"
    assert rendered.deployment["spec"]["strategy"] == {"type": "Recreate"}
    sa = rendered.one("ServiceAccount", INGESTION_SA)
    assert "annotations" not in sa["metadata"]
    service = rendered.one("Service", fullname())
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert "collate_hybrid_agent_connected" in rendered.notes
    assert "kubectl -n argo-workflows logs" in rendered.notes
    assert "port-forward" in rendered.notes


def test_https_server_host_gives_the_same_urls() -> None:
    env = render(SCENARIOS["token-from-existing-secret"]).env_values
    assert env["SERVER_URL"] == "wss://acme.getcollate.io"
    assert env["SERVER_HOST_API_URL"] == "https://acme.getcollate.io/api"


def test_server_url_override_for_a_local_server() -> None:
    values = merge(
        MINIMAL,
        {
            "config": {
                "serverHost": "http://fake-server.test.svc:8080",
                "serverUrl": "ws://fake-server.test.svc:8080/ws",
            },
            "extraEnvs": [{"name": "ALLOW_INSECURE_WS", "value": "true"}],
        },
    )
    env = render(values).env_values
    assert env["SERVER_URL"] == "ws://fake-server.test.svc:8080/ws"
    assert env["SERVER_HOST_API_URL"] == "http://fake-server.test.svc:8080/api"
    Settings.from_env(with_env_token(env), require_server=True)


WRITE_ONLY = ["create", "update"]


@pytest.mark.parametrize(
    ("scenario_name", "annotation", "value", "manager"),
    [
        ("aws-irsa", "eks.amazonaws.com/role-arn", ROLE_ARN, "managed-aws"),
        (
            "azure-workload-identity",
            "azure.workload.identity/client-id",
            AZURE_CLIENT_ID,
            "managed-azure-kv",
        ),
        ("gke-workload-identity", "iam.gke.io/gcp-service-account", GKE_SA, "gcp"),
    ],
)
def test_cloud_identity(scenario_name: str, annotation: str, value: str, manager: str) -> None:
    rendered = render(SCENARIOS[scenario_name])
    ingestion_sa = rendered.one("ServiceAccount", INGESTION_SA)
    assert ingestion_sa["metadata"]["annotations"] == {annotation: value}
    runner_sa = rendered.one("ServiceAccount", fullname())
    assert annotation in runner_sa["metadata"]["annotations"]
    assert rendered.pod["spec"]["serviceAccountName"] == fullname()
    env = rendered.env_values
    assert env["SECRETS_MANAGER"] == manager
    assert env["INGESTION_SERVICE_ACCOUNT_NAME"] == INGESTION_SA
    # Cloud stores need no read of Kubernetes Secrets, for the runner or for the pods: the
    # runner only writes its runs' config Secrets.
    for rule in rendered.role_rules(fullname()):
        if "secrets" in rule["resources"]:
            assert rule == {
                "apiGroups": [""],
                "resources": ["secrets"],
                "verbs": ["create", "update"],
            }


def test_azure_workload_identity_labels_and_vault() -> None:
    rendered = render(SCENARIOS["azure-workload-identity"])
    assert rendered.pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert rendered.env_values["AZURE_KEY_VAULT_NAME"] == "acme-collate-vault"
    config_map = rendered.one("ConfigMap", f"{fullname()}-ingestion-config")
    assert "azure.workload.identity/use" in config_map["data"]["workflow-params.yaml"]
    path = rendered.env_values["ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"]
    mount = next(m for m in rendered.container["volumeMounts"] if m["name"] == "custom-config")
    assert path == f"{mount['mountPath']}/workflow-params.yaml" and mount["readOnly"] is True
    assert "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH" not in rendered.env_values


def test_azure_without_a_vault_name_fails_at_install() -> None:
    values = merge(MINIMAL, {"config": {"secretsManager": "azure-kv"}})
    with pytest.raises(helm_python.HelmError, match="AZURE_KEY_VAULT_NAME"):
        render(values)


def test_pipeline_type_configs_reach_the_runner_verbatim() -> None:
    argo = render(SCENARIOS["argo-pipeline-type-configs"]).env_values
    assert json.loads(argo["ARGO_PIPELINE_TYPE_CONFIGS"]) == ARGO_PIPELINE_TYPE_CONFIGS
    assert argo["EXECUTOR_TYPE"] == "argo"
    k8s = render(SCENARIOS["simplek8s-pipeline-type-configs"]).env_values
    assert json.loads(k8s["SIMPLEK8S_PIPELINE_TYPE_CONFIGS"]) == SIMPLEK8S_PIPELINE_TYPE_CONFIGS
    assert k8s["EXECUTOR_TYPE"] == "simpleK8s"


def test_own_registry_images() -> None:
    rendered = render(SCENARIOS["own-registry"])
    assert rendered.container["image"] == (
        "registry.acme.internal/collate/hybrid-ingestion-runner:0.1.0"
    )
    assert rendered.pod["spec"]["imagePullSecrets"] == [{"name": "acme-registry"}]
    env = rendered.env_values
    assert env["INGESTION_IMAGE"] == "registry.acme.internal/collate/ingestion:om-1.11.1-cl-1.11.1"
    assert env["INGESTION_IMAGE_PULL_SECRETS"] == "acme-registry"
    assert env["DYNAMIC_INGESTION_VERSION_ENABLED"] == "false"
    settings = Settings.from_env({**env, "AUTH_TOKEN": "x"})
    assert settings.dynamic_ingestion_version is False
    assert settings.ingestion_image_pull_secrets == ("acme-registry",)


def test_extra_envs_replace_the_charts_own_variable() -> None:
    env = render(SCENARIOS["dynamic-version-off-via-extra-envs"]).env_values
    assert env["DYNAMIC_INGESTION_VERSION_ENABLED"] == "false"  # one entry: no duplicates


def test_token_from_an_existing_secret() -> None:
    rendered = render(SCENARIOS["token-from-existing-secret"])
    assert rendered.token_secret == {"name": "collate-bot-token", "key": "jwt"}
    assert rendered.all("Secret") == []


def test_no_token_at_all_fails_at_install() -> None:
    values = {"config": {"agentId": "a", "serverHost": "acme.getcollate.io"}}
    with pytest.raises(helm_python.HelmError, match="authToken"):
        render(values)


def test_everything_on() -> None:
    rendered = render(SCENARIOS["everything-on"])
    env = rendered.env_values
    assert env["RECONNECT_DELAY_SECONDS"] == "5"
    assert env["MAX_ACTIVE_RUNS"] == "10"
    assert json.loads(env["MAX_ACTIVE_RUNS_PER_TYPE"]) == {"profiler": 2}
    assert env["RUN_TIMEOUT_SECONDS"] == "7200"
    assert env["IMAGE_PULL_GRACE_SECONDS"] == "300"
    assert env["UNSCHEDULABLE_GRACE_SECONDS"] == "0"  # 0 is a value (no limit), not "unset"
    assert env["ARGO_SECONDS_AFTER_COMPLETION_TTL"] == "604800"
    assert env["INGESTION_AUTOMOUNT_SA_TOKEN"] == "true"
    assert json.loads(env["INGESTION_EXTRA_ENVS"]) == {
        "HTTPS_PROXY": "http://proxy.acme:3128",
        "NO_PROXY": ".svc",
    }
    assert env["INGESTION_IMAGE_PULL_SECRETS"] == f"{fullname()}-registry"
    assert rendered.pod["spec"]["imagePullSecrets"] == [{"name": f"{fullname()}-registry"}]
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    monitor = rendered.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics-app"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    rules = rendered.one("PrometheusRule")["spec"]["groups"][0]["rules"]
    by_alert = {r["alert"]: r for r in rules}
    assert set(by_alert) == {"HybridRunnerDown", "HybridRunnerDisconnected"}
    assert "collate_hybrid_agent_connected" in by_alert["HybridRunnerDisconnected"]["expr"]
    assert by_alert["HybridRunnerDisconnected"]["expr"].endswith("== 0")
    assert by_alert["HybridRunnerDisconnected"]["for"] == "2m"
    assert "absent(up{" in by_alert["HybridRunnerDown"]["expr"]
    dashboard = rendered.one("ConfigMap", f"{fullname()}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    json.loads(dashboard["data"]["hybrid-ingestion-runner.json"])
    # The ECR helper: a CronJob, a one-off hook Job, and a Role limited to its own Secret.
    cron = rendered.one("CronJob", f"{fullname()}-ecr")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == (
        f"{fullname()}-ecr"
    )
    hook = rendered.one("Job", f"{fullname()}-ecr-init")
    assert "post-install" in hook["metadata"]["annotations"]["helm.sh/hook"]
    ecr_rules = rendered.role_rules(f"{fullname()}-ecr")
    assert ecr_rules[1]["resourceNames"] == [f"{fullname()}-registry"]
    assert "ecr-secret" not in json.dumps(cron)


def test_ecr_helper_is_off_by_default() -> None:
    rendered = render(MINIMAL)
    assert not rendered.all("CronJob") and not rendered.all("Job")
    assert "INGESTION_IMAGE_PULL_SECRETS" not in rendered.env_values


def test_two_releases_in_one_namespace_do_not_collide() -> None:
    """Only the ingestion service account has a fixed name (Collate's `ingestion`): a second
    release in one namespace names its own, and then nothing is shared."""
    values = SCENARIOS["everything-on"]
    assert render(values, name="alpha").names() & render(values, name="beta").names() == {
        ("ServiceAccount", INGESTION_SA)
    }
    own_sa = {"config": {"ingestionPods": {"serviceAccount": {"name": "beta-ingestion"}}}}
    first = render(values, name="alpha")
    second = render(merge(values, own_sa), name="beta")
    assert first.names().isdisjoint(second.names())
    first_sa = first.env_values["INGESTION_SERVICE_ACCOUNT_NAME"]
    assert first_sa != second.env_values["INGESTION_SERVICE_ACCOUNT_NAME"]
    first_selector = first.deployment["spec"]["selector"]["matchLabels"]
    second_selector = second.deployment["spec"]["selector"]["matchLabels"]
    assert first_selector != second_selector


def test_long_release_names_stay_valid() -> None:
    rendered = render(SCENARIOS["everything-on"], name="a-very-long-release-name-for-a-runner-x")
    for kind, name in rendered.names():
        assert len(name) <= 63, (kind, name)
    validate_objects(rendered)
