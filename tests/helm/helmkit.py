"""Rendering the chart with Helm's own Go SDK (PyPI ``helm-python-sdk``) and reading the result.

No helm binary and no cluster: ``Chart.render`` is ``helm template`` (the kind tier installs the
chart with the real helm binary). The source chart does not bundle the argo-workflows subchart,
so every scenario here renders with ``installArgoWorkflows: false`` unless it bundles a stub
subchart of its own (``bundle_argo``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import yaml

from runtime.config.backends import EXECUTOR_TYPES
from runtime.executors import validate_settings_for
from runtime.settings import Settings

CHART_DIR = Path(__file__).resolve().parents[2] / "helm"
NAMESPACE = "argo-workflows"
#: The chart deploys into a cluster: it offers the executors that run pods (``local`` is for a
#: runner outside one).
CHART_EXECUTORS = tuple(name for name, kind in EXECUTOR_TYPES.items() if kind.runs_pods)
RELEASE = "my-runner"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.test-bot-token.signature"

#: Kinds that come from CRDs: kubernetes-validate has no schema for them.
CRD_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "GrafanaDashboard": "grafana.integreatly.org/v1beta1",
}
KUBE_VERSIONS = ("1.28", kubernetes_validate.latest_version())

#: The docs' minimal values (Collate "Deploy via Helm"): agent id, bot token, instance host.
MINIMAL: dict[str, Any] = {
    "config": {
        "agentId": "collate-hybrid-runner",
        "authToken": TOKEN,
        "serverHost": "acme.getcollate.io",
    },
}


def bundle_argo(chart_dir: Path) -> None:
    """Uncomments the argo-workflows dependency in a copy's Chart.yaml, as helm/README.md tells
    users who bundle Argo Workflows to do (before ``helm dependency update``)."""
    path = chart_dir / "Chart.yaml"
    text = path.read_text()
    head, marker, block = text.partition("# ARGO_DEPENDENCY:\n")
    assert marker, "Chart.yaml lost its ARGO_DEPENDENCY block"
    path.write_text(head + "".join(line.removeprefix("# ") + "\n" for line in block.splitlines()))


@functools.cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(str(CHART_DIR))


def merge(base: Mapping[str, Any], *overlays: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge (maps merge key by key; anything else from the overlay wins)."""
    out = copy.deepcopy(dict(base))
    for overlay in overlays:
        for key, value in overlay.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


class Rendered:
    """One render: manifests by template path, parsed objects, and lookups."""

    def __init__(self, manifests: Mapping[str, str]) -> None:
        self.manifests = dict(manifests)
        self.notes = next((t for p, t in manifests.items() if p.endswith("NOTES.txt")), "")
        self.objects: list[dict[str, Any]] = []
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                continue
            self.objects.extend(doc for doc in yaml.safe_load_all(text) if doc)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name!r}"
        return found[0]

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.deployment["spec"]["template"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod["spec"]["containers"]
        assert [c["name"] for c in containers] == ["runner"]
        container: dict[str, Any] = containers[0]
        return container

    @property
    def env(self) -> dict[str, dict[str, Any]]:
        """The runner's env entries by name (asserting there are no duplicate names)."""
        entries = self.container["env"]
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"duplicate env names: {names}"
        return {e["name"]: e for e in entries}

    @property
    def env_values(self) -> dict[str, str]:
        return {name: e["value"] for name, e in self.env.items() if "value" in e}

    def volume(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The runner pod's volume ``name`` and the container's mount of it."""
        (volume,) = [v for v in self.pod["spec"]["volumes"] if v["name"] == name]
        (mount,) = [m for m in self.container["volumeMounts"] if m["name"] == name]
        return volume, mount

    @property
    def token_secret(self) -> dict[str, Any]:
        """Where the runner's token comes from: the Secret volume behind AUTH_TOKEN_FILE, as
        ``{"name", "key"}``, checked to be mounted as a directory the kubelet refreshes."""
        volume, mount = self.volume("auth-token")
        assert "subPath" not in mount and mount.get("readOnly") is True
        (item,) = volume["secret"]["items"]
        assert self.env_values["AUTH_TOKEN_FILE"] == f"{mount['mountPath']}/{item['path']}"
        assert "AUTH_TOKEN" not in self.env
        return {"name": volume["secret"]["secretName"], "key": item["key"]}

    def role_rules(self, name: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.one("Role", name)["rules"]
        return rules

    def names(self) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in self.objects}


def render(
    values: Mapping[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
    chart_obj: helm_python.Chart | None = None,
) -> Rendered:
    manifests = (chart_obj or chart()).render(dict(values or {}), name=name, namespace=namespace)
    return Rendered(manifests)


def fullname(release: str = RELEASE) -> str:
    return f"{release}-hybrid-ingestion-runner"


def validate_objects(rendered: Rendered) -> None:
    """Every object against the Kubernetes schemas (strict: unknown fields fail)."""
    for obj in rendered:
        kind = obj["kind"]
        if kind in CRD_KINDS:
            assert obj["apiVersion"] == CRD_KINDS[kind]
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:  # pragma: no cover - message
                raise AssertionError(
                    f"{kind}/{obj['metadata']['name']} invalid for Kubernetes {version}: "
                    f"{exc.message} at {list(exc.path)}"
                ) from None


def with_env_token(env: Mapping[str, str]) -> dict[str, str]:
    """The chart's env with the token given as AUTH_TOKEN instead of the mounted file, for the
    tests that are not about the token (the runner honours both)."""
    out = {k: v for k, v in env.items() if k != "AUTH_TOKEN_FILE"}
    out["AUTH_TOKEN"] = "from-the-secret"
    return out


def runner_settings(rendered: Rendered, tmp_path: Path) -> Settings:
    """The runner's own parser and start-up checks applied to the chart's environment (the
    token and the customConfig files written where their volumes would be mounted): what a pod
    would do."""
    environ = dict(rendered.env_values)
    if "AUTH_TOKEN_FILE" in environ:
        token = tmp_path / "token"
        token.write_text("from-the-secret")
        environ["AUTH_TOKEN_FILE"] = str(token)
    for variable in (
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH",
        "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH",
    ):
        if variable in environ:
            key = Path(environ[variable]).name
            config_map = rendered.one(
                "ConfigMap", rendered.deployment["metadata"]["name"] + "-ingestion-config"
            )
            (tmp_path / key).write_text(config_map["data"][key])
            environ[variable] = str(tmp_path / key)
    settings = Settings.from_env(environ, require_server=True)
    assert validate_settings_for(settings.executor_type, settings) == []
    return settings
