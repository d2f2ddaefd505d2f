"""A values file written for Collate's public chart installs unchanged, and each of its keys does
here what it does there: the drop-in promise of README.

``data/collate-values.yaml`` sets every key of that chart in the forms its comments document;
each test below asserts one group of keys' effect on the rendered objects, and the runner's own
``Settings.from_env`` must accept the env the chart gives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from runtime.settings import VARIABLES, Settings
from tests.helm.helmkit import (
    CHART_DIR,
    MINIMAL,
    NAMESPACE,
    Rendered,
    fullname,
    merge,
    render,
    runner_settings,
    with_env_token,
)
from tests.helm.helmkit import validate_objects as validate_all
from tests.runtime.executors.rendered import workload_of

COLLATE_VALUES: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "data" / "collate-values.yaml").read_text()
)
INGESTION_NS = "collate-ingestion"


@pytest.fixture(scope="module")
def collate() -> Rendered:
    return render(COLLATE_VALUES)


def test_the_collate_values_file_passes_the_schema_and_renders_valid_objects(
    collate: Rendered,
) -> None:
    validate_all(collate)
    report = helm_python.lint(
        str(CHART_DIR), COLLATE_VALUES, namespace=NAMESPACE, kube_version="v1.28.0"
    )
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_runner_starts_with_the_env_the_collate_values_give_it(
    collate: Rendered, tmp_path: Path
) -> None:
    """The runner's own start-up checks, with the customConfig files mounted: a value refused
    here would crash-loop the pod (as `priorityClassName` once did on the kind tier)."""
    user_env = {e["name"] for e in COLLATE_VALUES["extraEnvs"]}
    runner_variables = {v.name for v in VARIABLES}
    assert set(collate.env) - user_env <= runner_variables
    settings = runner_settings(collate, tmp_path)
    assert settings.agent_id == "AcmeRunner"
    assert settings.ingestion_namespace == INGESTION_NS


def test_common_labels_reach_every_object(collate: Rendered) -> None:
    for obj in collate:
        assert obj["metadata"]["labels"]["team"] == "data-platform", obj["kind"]
    assert collate.pod["metadata"]["labels"]["acme.io/tier"] == "ingestion"


def test_deployment_and_pod_metadata(collate: Rendered) -> None:
    assert collate.deployment["metadata"]["annotations"] == {"acme.io/owner": "data-platform"}
    assert collate.pod["metadata"]["annotations"]["acme.io/scrape"] == "true"
    assert collate.deployment["spec"]["replicas"] == 1
    assert collate.container["image"] == (
        "registry.acme.internal/collate/hybrid-ingestion-runner:1.13.3"
    )


def test_runner_container_env_envfrom_volumes_and_probes(collate: Rendered) -> None:
    container = collate.container
    assert collate.env_values["HTTPS_PROXY"] == "http://proxy.acme.internal:3128"
    assert container["envFrom"] == [{"configMapRef": {"name": "acme-proxy-settings"}}]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["corporate-ca"]["mountPath"] == "/etc/ssl/corporate"
    volumes = {v["name"]: v for v in collate.pod["spec"]["volumes"]}
    assert volumes["corporate-ca"]["configMap"] == {"name": "corporate-ca"}
    # Collate's chart has no probes by default; timings given for it tune the runner's own.
    assert container["livenessProbe"]["periodSeconds"] == 20
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["periodSeconds"] == 10
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
    assert collate.pod["spec"]["securityContext"]["runAsUser"] == 10001


def test_service_ports_keep_collates_names(collate: Rendered) -> None:
    ports = {p["name"]: p for p in collate.one("Service")["spec"]["ports"]}
    assert ports["metrics-app"]["port"] == 8989 and ports["app"]["port"] == 8585
    assert {p["targetPort"] for p in ports.values()} == {"metrics"}
    monitor = collate.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics-app"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_server_token_and_string_forms(collate: Rendered) -> None:
    env = collate.env_values
    assert env["SERVER_URL"] == "wss://acme.getcollate.io"
    assert env["SERVER_HOST_API_URL"] == "https://acme.getcollate.io/api"
    assert env["RECONNECT_DELAY_SECONDS"] == "5"
    assert env["DYNAMIC_INGESTION_VERSION_ENABLED"] == "true"
    assert env["ARGO_SECONDS_AFTER_COMPLETION_TTL"] == "604800"
    assert env["SECRETS_MANAGER"] == "kubernetes"
    # authToken wins over authTokenSecret, as in Collate's chart (mounted: AUTH_TOKEN_FILE).
    assert collate.token_secret == {"name": fullname(), "key": "authToken"}
    # The proxy Collate's users give in extraEnvs is now honoured by the runner as written.
    assert env["HTTPS_PROXY"] == "http://proxy.acme.internal:3128"


def test_ingestion_pods_settings(collate: Rendered) -> None:
    env = collate.env_values
    assert env["INGESTION_NAMESPACE"] == INGESTION_NS
    assert env["INGESTION_IMAGE"].endswith(
        "collate-customers-ingestion-slim-eu-west-1:om-1.13.3-cl-1.13.3"
    )
    assert env["INGESTION_IMAGE_PULL_SECRETS"] == "omd-registry-credentials"
    assert env["INGESTION_DISABLE_VERSION_VALIDATION"] == "true"
    assert env["INGESTION_AUTOMOUNT_SA_TOKEN"] == "true"  # from `autoMountSAToken`
    assert json.loads(env["INGESTION_EXTRA_ENVS"]) == {"AWS_DEFAULT_REGION": "eu-west-1"}
    assert json.loads(env["SIMPLEK8S_PIPELINE_TYPE_CONFIGS"]) == {
        "automation": {"priorityClassName": "high-priority"}
    }
    assert env["INGESTION_CPU_LIMIT"] == "1000m"
    assert env["INGESTION_AUTOMATION_WORKFLOW_MEMORY_REQUEST"] == "256Mi"
    config_map = collate.one("ConfigMap", f"{fullname()}-ingestion-config")
    assert "dedicated-node-group" in config_map["data"]["workflow-params.yaml"]
    assert "CUSTOM_ENV" in config_map["data"]["container-params.yaml"]
    assert env["ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"].endswith("/workflow-params.yaml")


def test_ingestion_service_account_and_roles_live_in_the_ingestion_namespace(
    collate: Rendered,
) -> None:
    sa = collate.one("ServiceAccount", "ingestion")
    assert sa["metadata"]["namespace"] == INGESTION_NS
    assert sa["automountServiceAccountToken"] is True
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("collate-ingestion")
    assert collate.one("Role", fullname())["metadata"]["namespace"] == INGESTION_NS
    assert collate.one("RoleBinding", fullname())["metadata"]["namespace"] == INGESTION_NS
    # Collate's values list no Secret ingestion may read (config.allowedSecretReferences), so
    # its pods get no Role at all: simpleK8s pods need none, and no Secret is readable.
    assert not [r for r in collate.all("Role") if r["metadata"]["name"].endswith("-ingestion")]
    runner_binding = collate.one("RoleBinding", fullname())
    assert runner_binding["subjects"][0]["namespace"] == NAMESPACE  # the runner stays home
    runner_sa = collate.one("ServiceAccount", fullname())
    assert runner_sa["automountServiceAccountToken"] is True
    assert "ingestion" in collate.notes and INGESTION_NS in collate.notes


def test_pdb_rules_and_dashboard(collate: Rendered) -> None:
    pdb = collate.one("PodDisruptionBudget")
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": pdb["spec"]["selector"],
    }
    assert pdb["metadata"]["annotations"] == {"acme.io/reason": "keep-one"}
    groups = collate.one("PrometheusRule")["spec"]["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"]}
    assert {"HybridAgentDown", "HybridAgentDisconnected"} <= alerts  # Collate's alert names
    dashboard = collate.one("ConfigMap", f"{fullname()}-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"


def test_ecr_helper_keys(collate: Rendered) -> None:
    cron = collate.one("CronJob")
    assert cron["spec"]["schedule"] == "0 0/6 * * *"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "omd-pull-secret-refresh"
    assert pod["metadata"]["annotations"]["acme.io/scrape"] == "true"
    assert pod["spec"]["nodeSelector"] == {"acme.io/pool": "system"}
    assert pod["spec"]["tolerations"][0]["value"] == "system"
    hook = collate.one("Job")
    assert hook["spec"]["ttlSecondsAfterFinished"] == 300 and hook["spec"]["backoffLimit"] == 1
    assert collate.one("Role", f"{fullname()}-ecr")["rules"][1]["resourceNames"] == [
        "omd-registry-credentials"
    ]
    assert "collate-values-ecr-secret" not in json.dumps(cron)


def test_keys_without_meaning_here_are_accepted_and_warned_about(collate: Rendered) -> None:
    assert "config.argoWorkflows.backOffTime: has no effect here" in collate.notes
    values = merge(
        MINIMAL,
        {
            "config": {
                "argoWorkflows": {
                    "endpoint": "argo-workflows-server.argo-workflows:2746",
                    "backoffTime": 5,
                    "certificatePath": "/certs/argo.pem",
                },
                "ingestionPods": {"customerToleration": "dedicated"},
            }
        },
    )
    rendered = render(values)
    assert rendered.env_values["EXECUTOR_TYPE"] == "argo"
    for key in ("endpoint", "backoffTime", "certificatePath"):
        assert f"config.argoWorkflows.{key}" in rendered.notes
    assert "customerToleration" in rendered.notes
    assert "ARGO_TOKEN" not in rendered.env_values


def test_use_secure_protocols_false_gives_plain_urls() -> None:
    for flag in (False, "false"):
        env = render(merge(MINIMAL, {"config": {"useSecureProtocols": flag}})).env_values
        assert env["SERVER_URL"] == "ws://acme.getcollate.io"
        assert env["SERVER_HOST_API_URL"] == "http://acme.getcollate.io/api"
        assert env["ALLOW_INSECURE_WS"] == "true"
        Settings.from_env(with_env_token(env), require_server=True)
    assert "ALLOW_INSECURE_WS" not in render(MINIMAL).env_values


def test_namespace_override_moves_every_object() -> None:
    rendered = render(merge(MINIMAL, {"namespaceOverride": "collate"}))
    assert {o["metadata"]["namespace"] for o in rendered} == {"collate"}
    assert rendered.env_values["INGESTION_NAMESPACE"] == "collate"


def test_pdb_min_available_alone_and_both_refused() -> None:
    pdb = render(merge(MINIMAL, {"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}))
    assert pdb.one("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb.one("PodDisruptionBudget")["spec"]
    both = {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}}
    with pytest.raises(helm_python.HelmError, match="not both"):
        render(merge(MINIMAL, both))


def test_grafana_operator_resource_beside_the_configmap() -> None:
    values = merge(
        MINIMAL,
        {
            "grafanaDashboard": {
                "enabled": True,
                "operatorResource": True,
                "namespace": "monitoring",
                "folderName": "Collate",
                "instanceSelector": {"dashboards": "grafana"},
                "allowCrossNamespaceImport": True,
                "datasources": [{"inputName": "DS_PROMETHEUS", "datasourceName": "Prometheus"}],
                "plugins": [{"name": "grafana-clock-panel", "version": "2.1.3"}],
            }
        },
    )
    rendered = render(values)
    resource = rendered.one("GrafanaDashboard")
    config_map = rendered.one("ConfigMap", f"{fullname()}-dashboard")
    assert resource["metadata"]["namespace"] == config_map["metadata"]["namespace"] == "monitoring"
    spec = resource["spec"]
    assert spec["folder"] == "Collate"
    assert spec["instanceSelector"] == {"matchLabels": {"dashboards": "grafana"}}
    assert spec["allowCrossNamespaceImport"] is True
    assert spec["configMapRef"] == {
        "name": config_map["metadata"]["name"],
        "key": "hybrid-ingestion-runner.json",
    }
    assert spec["datasources"][0]["inputName"] == "DS_PROMETHEUS"
    assert spec["plugins"][0]["name"] == "grafana-clock-panel"
    # Without grafana-operator's API in the cluster (helm template has none) only the ConfigMap.
    auto = render(merge(MINIMAL, {"grafanaDashboard": {"enabled": True}}))
    assert not auto.all("GrafanaDashboard") and auto.one("ConfigMap", f"{fullname()}-dashboard")


def test_create_argo_workflows_namespace() -> None:
    rendered = render(merge(MINIMAL, {"createArgoWorkflowsNamespace": True}))
    assert rendered.one("Namespace")["metadata"]["name"] == "argo-workflows"
    custom = merge(
        MINIMAL,
        {"createArgoWorkflowsNamespace": True, "argoWorkflows": {"namespaceOverride": "wf"}},
    )
    assert render(custom).one("Namespace")["metadata"]["name"] == "wf"


def test_probe_handler_of_your_own_replaces_the_runners() -> None:
    probe = {"tcpSocket": {"port": "metrics"}, "periodSeconds": 7}
    container = render(merge(MINIMAL, {"livenessProbe": probe})).container
    assert container["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
    assert "httpGet" not in container["livenessProbe"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_no_token_in_pods_with_kubernetes_secrets_fails_at_install() -> None:
    """The runner refuses this at start-up (a crash loop); the chart says it at install."""
    for key in ("automountSAToken", "autoMountSAToken"):
        values = merge(MINIMAL, {"config": {"ingestionPods": {key: "false"}}})
        with pytest.raises(helm_python.HelmError, match="automountSAToken is false"):
            render(values)
    managed = {"config": {"secretsManager": "managed-aws", "ingestionPods": {key: False}}}
    assert render(merge(MINIMAL, managed)).env_values["INGESTION_AUTOMOUNT_SA_TOKEN"] == "false"


def test_the_docs_minimal_values_launch_a_pipeline_with_the_default_image(tmp_path: Path) -> None:
    """The chart's env for the docs' minimal values, given to the real runner's dry run as if a
    1.13.3 server had connected: the Job runs OpenMetadata's public ingestion image at the
    server's version, as ServiceAccount `ingestion` (no INGESTION_IMAGE set anywhere)."""
    env = render(MINIMAL).env_values
    assert "INGESTION_IMAGE" not in env
    message = Path(__file__).parents[1] / "messages" / "run_pipeline.json"
    invoke = ["invoke", str(message), "--dry-run", "--server-version", "1.13.3"]
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", *invoke],
        env={
            **env,
            "PATH": os.environ["PATH"],
            "AUTH_TOKEN": "from-the-secret",
            "STATE_DIR": str(tmp_path / "state"),
            # The message's secret references would be checked in a cluster; none here.
            "SECRETS_PREFLIGHT": "false",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    job = workload_of(list(yaml.safe_load_all(result.stdout)))
    pod = job["spec"]["template"]["spec"]
    assert (
        pod["containers"][0]["image"] == "docker.getcollate.io/openmetadata/ingestion-base:1.13.3"
    )
    assert pod["serviceAccountName"] == "ingestion"
