"""values.yaml, values.schema.json and the templates agree: no misspelt key passes, no key is
dead, the Argo subchart is wired under `argoWorkflows`, and the dashboard reads real metrics."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from prometheus_client import CollectorRegistry

from runtime.observability.metrics import Metrics
from tests.backend_names import NO_SUCH_EXECUTOR, NO_SUCH_STORE
from tests.helm.helmkit import CHART_DIR, MINIMAL, bundle_argo, chart, merge, render

DEFAULTS: dict[str, Any] = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())

STUB_CHART_YAML = "apiVersion: v2\nname: argo-workflows\nversion: 0.45.26\n"
STUB_VALUES = "images:\n  tag: ''\ncontroller:\n  workflowDefaults: {}\n"
STUB_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-argo-stub
data:
  workflowDefaults: {{ .Values.controller.workflowDefaults | toJson | quote }}
"""


class StubbedChart:
    """Renders a chart directory, loading it afresh each time: Helm drops disabled subcharts
    from a loaded chart while rendering, so one loaded chart cannot serve both conditions."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def render(self, values: dict[str, Any], *, name: str, namespace: str) -> dict[str, str]:
        loaded = helm_python.Chart.load(str(self.path))
        return loaded.render(values, name=name, namespace=namespace)


@pytest.fixture(scope="module")
def chart_with_stub_argo(tmp_path_factory: pytest.TempPathFactory) -> StubbedChart:
    """A copy of the chart bundling a stand-in argo-workflows subchart, as helm/README.md says:
    the dependency uncommented in Chart.yaml, the subchart in charts/."""
    root = tmp_path_factory.mktemp("chart") / "helm"
    shutil.copytree(CHART_DIR, root, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    bundle_argo(root)
    stub = root / "charts" / "argo-workflows"
    (stub / "templates").mkdir(parents=True)
    (stub / "Chart.yaml").write_text(STUB_CHART_YAML)
    (stub / "values.yaml").write_text(STUB_VALUES)
    (stub / "templates" / "configmap.yaml").write_text(STUB_TEMPLATE)
    return StubbedChart(root)


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"config": {"agentID": "x"}}, "agentID"),
        ({"config": {"ingestionPods": {"serviceAcount": {}}}}, "serviceAcount"),
        ({"metricsServerConfig": {"port": 1}}, "metricsServerConfig"),
        ({"ecrRegistryHelper": {"enable": True}}, "enable"),
        ({"replicaCount": "2"}, "replicaCount"),
        ({"metricsServerConfiguration": {"port": "8989"}}, "port"),
        ({"config": {"dynamicIngestionVersionEnabled": "maybe"}}, "dynamicIngestionVersion"),
        ({"config": {"reconnectDelaySeconds": "soon"}}, "reconnectDelaySeconds"),
        ({"config": {"argoWorkflows": {"backofTime": "5"}}}, "backofTime"),
        ({"service": {"metricPort": 8989}}, "metricPort"),
        ({"grafanaDashboard": {"folder": "x"}}, "folder"),
        ({"podDisruptionBudget": {"minAvailabe": 1}}, "minAvailabe"),
        ({"executor": NO_SUCH_EXECUTOR}, "executor"),
        ({"config": {"secretsManager": NO_SUCH_STORE}}, "secretsManager"),
        ({"extraEnvs": [{"name": "A", "vaule": "b"}]}, "vaule"),
        ({"config": {"serverHost": "acme.getcollate.io/some/path"}}, "serverHost"),
        ({"terminationGracePeriodSeconds": 10}, "terminationGracePeriodSeconds"),
        ({"config": {"ingestionPods": {"securityContext": {"runAsUser": -1}}}}, "runAsUser"),
        ({"config": {"ingestionPods": {"securityContext": {"runAsGroup": "1000"}}}}, "runAsGroup"),
        ({"config": {"ingestionPods": {"securityContext": {"fsGroup": 1.5}}}}, "fsGroup"),
        ({"config": {"ingestionPods": {"securityContext": {"runAsNonRoot": "no"}}}}, "runAsNon"),
        ({"config": {"ingestionPods": {"securityContext": {"runAsUsr": 1}}}}, "runAsUsr"),
        ({"openshift": {"enable": True}}, "enable"),
        ({"openshift": {"enabled": "true"}}, "enabled"),
        ({"proxy": {"httpProxi": "http://proxy.corp:3128"}}, "httpProxi"),
        ({"proxy": {"httpsProxy": "http://bob:pw@proxy.corp:3128"}}, "httpsProxy"),
        ({"proxy": {"httpsProxy": "http://proxy.corp:3128/some/path"}}, "httpsProxy"),
        ({"proxy": {"noProxy": {"corp.example": True}}}, "noProxy"),
        ({"proxy": {"existingSecret": "Corp_Proxy"}}, "existingSecret"),
        ({"proxy": {"ingestionPods": "yes"}}, "ingestionPods"),
        ({"config": {"serverCA": "not a certificate"}}, "serverCA"),
        ({"config": {"serverCAConfigMap": {"nam": "corporate-ca"}}}, "nam"),
    ],
)
def test_schema_rejects_misspelt_keys_and_wrong_types(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=fragment):
        chart().validate_schema(merge(MINIMAL, values))
    with pytest.raises(helm_python.HelmValuesError):
        render(merge(MINIMAL, values))


def test_schema_accepts_the_defaults_and_the_subchart_values() -> None:
    chart().validate_schema(DEFAULTS)
    chart().validate_schema(
        merge(
            MINIMAL,
            {
                "installArgoWorkflows": True,
                "argoWorkflows": {
                    "controller": {"workflowDefaults": {"spec": {"ttlStrategy": {}}}},
                    "anything": {"the": "subchart decides"},
                },
            },
        )
    )


def _objects(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if schema.get("type") == "object" and "properties" in schema:
        yield path, schema
        for key, sub in schema["properties"].items():
            yield from _objects(sub, f"{path}.{key}")


def test_every_object_we_own_is_closed() -> None:
    for path, node in _objects(SCHEMA):
        assert node.get("additionalProperties") is False, path or "(root)"


def test_schema_and_values_yaml_have_the_same_keys() -> None:
    def keys(values: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        props = schema.get("properties")
        if props is None:
            return  # free-form (annotations, affinity, subchart values...)
        assert set(values) <= set(props), f"{path}: not in schema {set(values) - set(props)}"
        for key, value in values.items():
            if isinstance(value, dict):
                keys(value, props[key], f"{path}.{key}")

    keys(DEFAULTS, SCHEMA, "")
    assert set(SCHEMA["properties"]) - set(DEFAULTS) == {"global"}


# ---------------------------------------------------------------- no dead keys

#: Mutations for leaves whose generic change the schema would refuse.
MUTATIONS: dict[str, Any] = {
    "config.serverUrl": "wss://elsewhere.example/ws",
    "config.allowedSecretReferences": ["collate-mysql"],
    "config.maxActiveRunsPerType": {"profiler": 2},
    "config.ingestionPods.allowedImages": ["registry.corp/*"],
    "config.ingestionPods.extraEnvs": ["HTTPS_PROXY=http://proxy:3128"],
    "config.ingestionPods.imagePullSecrets": ["a", "b"],
    "extraEnvs": [{"name": "TZ", "value": "UTC"}],
    "imagePullSecrets": [{"name": "registry"}],
    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    "prometheusRules.extraRules": [{"name": "mine", "rules": []}],
    "prometheusRules.disconnectedFor": "3m",
    "prometheusRules.downFor": "7m",
    "serviceMonitor.interval": "15s",
    "securityContext.capabilities.drop": ["NET_RAW"],
    "ecrRegistryHelper.collateCredentials.values.account": "210987654321",
    "metricsServerConfiguration.path": "/prom",
    "envFrom": [{"secretRef": {"name": "proxy-settings"}}],
    "volumes": [{"name": "ca", "configMap": {"name": "corporate-ca"}}],
    "volumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corporate"}],
    "config.ingestionPods.additionalPipelineConfigs": '{"automation": {"priorityClassName": "hi"}}',
    "grafanaDashboard.instanceSelector.dashboards": "other",
    "grafanaDashboard.plugins": [{"name": "grafana-piechart-panel", "version": "1.6.4"}],
    "grafanaDashboard.datasources": [{"inputName": "DS_PROMETHEUS", "datasourceName": "Prom"}],
    "podDisruptionBudget.minAvailable": 1,
    "podDisruptionBudget.maxUnavailable": 2,
    "config.ingestionPods.namespace": "ingestion-jobs",
    "networkPolicy.apiServer.cidrs": ["172.18.0.2/32"],
    "networkPolicy.apiServer.ports": [6443],
    "networkPolicy.server.cidrs": ["203.0.113.10/32"],
    "networkPolicy.metricsFrom": [{"namespaceSelector": {}}],
    "networkPolicy.extraEgress": [{"ports": [{"port": 3128}]}],
    "networkPolicy.ingestionPods.egress": [{"ports": [{"port": 5432}]}],
    "config.serverCA": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}
#: Values that switch every optional part on, so that no key hides behind a disabled feature.
EVERYTHING_ON: dict[str, Any] = merge(
    MINIMAL,
    {
        "config": {
            "ingestionPods": {
                "repository": "registry.example/ingestion",
                "customConfig": {
                    "enabled": True,
                    "workflowParams": {"a": 1},
                    "containerParams": {"b": 2},
                },
            },
        },
        "podDisruptionBudget": {"enabled": True},
        "networkPolicy": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "prometheusRules": {"enabled": True},
        "grafanaDashboard": {"enabled": True, "operatorResource": True},
        "ecrRegistryHelper": {
            "enabled": True,
            "collateCredentials": {"values": {"accessKeyId": "AKIA", "secretAccessKey": "s"}},
        },
    },
)
#: Keys only read in another state: the extra values that put them in play.
CONTEXT: dict[str, dict[str, Any]] = {
    "config.authTokenSecret.key": {
        "config": {"authToken": "", "authTokenSecret": {"name": "existing"}}
    },
    "config.authTokenSecret.name": {
        "config": {"authToken": "", "authTokenSecret": {"name": "existing"}}
    },
    "config.serverCAConfigMap.key": {"config": {"serverCAConfigMap": {"name": "corporate-ca"}}},
}


def _schema_at(path: list[str]) -> dict[str, Any]:
    node = SCHEMA
    for key in path:
        node = node.get("properties", {}).get(key, {})
    return node


def _mutate(path: list[str], value: Any) -> Any:
    dotted = ".".join(path)
    if dotted in MUTATIONS:
        return MUTATIONS[dotted]
    schema = _schema_at(path)
    if "enum" in schema:
        return next(choice for choice in schema["enum"] if choice != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "1"
    if isinstance(value, dict):
        return {"mutated": "yes"}
    if value is None:
        types = schema.get("type", [])
        if "boolean" in types:
            return True
        return 7 if "integer" in types else 1.5
    raise AssertionError(f"no mutation for {dotted} = {value!r}")


def _leaves(values: dict[str, Any], path: list[str]) -> Iterator[tuple[list[str], Any]]:
    for key, value in values.items():
        here = [*path, key]
        if here == ["argoWorkflows"]:
            continue  # the subchart's values: read by the subchart, not by our templates
        if isinstance(value, dict) and value:
            yield from _leaves(value, here)
        else:
            yield here, value


def _set(values: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def test_no_values_key_is_unread(chart_with_stub_argo: StubbedChart) -> None:
    """Change each key of values.yaml alone: the rendered output must change (or fail)."""
    dead = []
    leaves = list(_leaves(DEFAULTS, []))
    assert len(leaves) > 60
    for path, default in leaves:
        base = merge(DEFAULTS, EVERYTHING_ON, CONTEXT.get(".".join(path), {}))
        current = base
        for key in path:
            current = current[key]
        mutated = _set(base, path, _mutate(path, current))
        before = chart_with_stub_argo.render(base, name="r", namespace="ns")
        try:
            after = chart_with_stub_argo.render(mutated, name="r", namespace="ns")
        except helm_python.HelmRenderError:
            continue  # a template looked at the key and refused the value: it is read
        if before == after:
            dead.append(".".join(path))
        del default
    assert dead == []


# ---------------------------------------------------------------- the Argo subchart


def test_argo_subchart_values_go_under_argo_workflows(
    chart_with_stub_argo: StubbedChart,
) -> None:
    defaults = {"spec": {"podGC": {"strategy": "OnPodSuccess"}}}
    values = merge(
        MINIMAL,
        {
            "installArgoWorkflows": True,
            "argoWorkflows": {"controller": {"workflowDefaults": defaults}},
        },
    )
    manifests = chart_with_stub_argo.render(values, name="r", namespace="ns")
    stub = next(text for path, text in manifests.items() if "/charts/argoWorkflows/" in path)
    data = yaml.safe_load(stub)["data"]
    assert json.loads(data["workflowDefaults"]) == defaults
    deployment = yaml.safe_load(manifests["hybrid-ingestion-runner/templates/deployment.yaml"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["EXECUTOR_TYPE"] == "argo"
    off = chart_with_stub_argo.render(MINIMAL, name="r", namespace="ns")
    assert not [p for p in off if "/charts/argoWorkflows/" in p and off[p].strip()]


def test_renders_without_the_subchart_unless_asked_for_it(tmp_path: Path) -> None:
    bare = tmp_path / "helm"
    shutil.copytree(CHART_DIR, bare, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    assert not (bare / "charts").exists()
    assert helm_python.Chart.load(str(bare)).render(MINIMAL, name="r", namespace="ns")
    loaded = helm_python.Chart.load(str(bare))
    with pytest.raises(helm_python.HelmRenderError, match="does not bundle the argo-workflows"):
        loaded.render(merge(MINIMAL, {"installArgoWorkflows": True}), name="r", namespace="ns")


def test_the_source_chart_has_no_dependency_and_bundling_declares_it_as_collate_does(
    tmp_path: Path,
) -> None:
    """`helm install ./helm` must work without fetching anything (the kind tier runs it with
    the real helm binary); bundling Argo declares the dependency as Collate's chart does."""
    meta = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == "hybrid-ingestion-runner"
    assert meta["appVersion"] == "0.1.0"
    assert "dependencies" not in meta
    bundled = tmp_path / "helm"
    shutil.copytree(CHART_DIR, bundled)
    bundle_argo(bundled)
    (dep,) = yaml.safe_load((bundled / "Chart.yaml").read_text())["dependencies"]
    assert dep["name"] == "argo-workflows" and dep["alias"] == "argoWorkflows"
    assert dep["repository"] == "https://argoproj.github.io/argo-helm"
    assert dep["condition"] == "installArgoWorkflows"


# ---------------------------------------------------------------- dashboard


def _exposed_names() -> set[str]:
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in Metrics(CollectorRegistry()).registry.collect():
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_dashboard_and_alerts_use_the_runners_metric_names() -> None:
    dashboard = json.loads((CHART_DIR / "dashboards" / "hybrid-ingestion-runner.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        name
        for expr in exprs
        for name in re.findall(r"\b((?:collate_hybrid_agent|hybrid_runner)_[a-z_]+)", expr)
    }
    exposed = _exposed_names()
    assert used - exposed == set()
    # Every metric the runner exposes has a panel.
    families = {n.removesuffix("_total").removesuffix("_bucket") for n in used}
    assert {"collate_hybrid_agent_connected", "collate_hybrid_agent_jobs"} <= families
    assert len(families) >= 12
