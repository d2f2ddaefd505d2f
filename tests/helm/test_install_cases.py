"""The chart rendered for one install choice at a time: the minimal values, the server's URL,
cloud identities, images, the token's source, everything on, two releases, long names."""

from __future__ import annotations

import json

import helm_python
import pytest

from runtime.settings import Settings
from tests.helm.helmkit import (
    MINIMAL,
    NAMESPACE,
    fullname,
    merge,
    render,
    validate_objects,
    with_env_token,
)
from tests.helm.scenarios import (
    ARGO_PIPELINE_TYPE_CONFIGS,
    AZURE_CLIENT_ID,
    GKE_SA,
    INGESTION_SA,
    ROLE_ARN,
    SCENARIOS,
    SIMPLEK8S_PIPELINE_TYPE_CONFIGS,
)


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
