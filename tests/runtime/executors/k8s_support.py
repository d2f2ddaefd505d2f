"""Helpers for the Kubernetes executor tests: settings, specs, schemas, watch events, clocks.

Schemas come from published sources, never copies in this repository:

* Kubernetes: ``kubernetes-validate`` (the schema of 1.28, the oldest version Collate supports,
  and of the newest version the package ships);
* Argo: the Workflow / CronWorkflow CRDs' ``openAPIV3Schema`` from the Argo Workflows Go module,
  downloaded through the Go module proxy into ``~/.cache/hybrid-runner/gomod`` (outside the repo)
  on first use. The CRD schemas do not forbid unknown fields (the API server prunes them), so
  the tests add ``additionalProperties: false`` wherever a schema lists its properties: a
  misspelt field fails the test instead of silently vanishing in a real cluster.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from runtime.executors.base import LaunchSpec
from runtime.executors.naming import run_name
from runtime.settings import Settings

ARGO_MODULE = "github.com/argoproj/argo-workflows/v3"
ARGO_VERSION = "v3.7.3"
GOMODCACHE = Path.home() / ".cache" / "hybrid-runner" / "gomod"
GOLDEN = Path(__file__).parent / "golden"
NAMESPACE = "ingestion"
AGENT = "agent-1"
K8S_VERSIONS = ("1.28.0", kv_utils.latest_version())

# Shaped as the Collate docs describe the two variables (DESIGN section 4). The public page
# with the exact examples was not reachable from this workplace; these are written to it.
DOC_ARGO_PIPELINE_TYPE_CONFIGS: dict[str, Any] = {
    "automation": {
        "toleration": "automation",
        "nodeSelector": {"workload": "automation"},
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    },
    "metadata": {
        "toleration": "ingestion",
        "priorityClass": "ingestion-high",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "node-pool", "operator": "In", "values": ["ingestion"]}
                            ]
                        }
                    ]
                }
            }
        },
    },
    "profiler": {
        "toleration": "profiler",
        "nodeSelector": {"node-pool": "profiler"},
        "resources": {"limits": {"memory": "8Gi"}},
    },
}
DOC_SIMPLEK8S_PIPELINE_TYPE_CONFIGS: dict[str, Any] = {
    "metadata": {
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "ingestion", "effect": "NoSchedule"}
        ],
        "nodeSelector": {"node-pool": "ingestion"},
        "priorityClass": "ingestion-high",
    },
    "profiler": {
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"requests": {"memory": "4Gi"}, "limits": {"memory": "8Gi"}},
    },
}


#: Runner environments for the three security-context shapes README describes (default,
#: OpenShift, an old image that needs root).
SECURITY_ENVS: dict[str, dict[str, str]] = {
    "default": {},
    "openshift": {
        "INGESTION_RUN_AS_USER": "",
        "INGESTION_RUN_AS_GROUP": "",
        "INGESTION_FS_GROUP": "",
    },
    "root-image": {"INGESTION_RUN_AS_USER": "0", "INGESTION_RUN_AS_NON_ROOT": "false"},
}


def assert_security_contexts(
    pod_sc: dict[str, Any], container_sc: dict[str, Any], shape: str
) -> None:
    """The pod's and ``main``'s security contexts for one of the SECURITY_ENVS shapes."""
    ids = {k: pod_sc.get(k) for k in ("runAsUser", "runAsGroup", "fsGroup")}
    if shape == "default":
        assert ids == {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000}
    elif shape == "openshift":
        assert not set(pod_sc) & set(ids)
    else:
        assert ids == {"runAsUser": 0, "runAsGroup": 1000, "fsGroup": 1000}
    non_root = shape != "root-image"
    assert pod_sc["runAsNonRoot"] is non_root and container_sc["runAsNonRoot"] is non_root
    assert pod_sc["seccompProfile"] == container_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container_sc["allowPrivilegeEscalation"] is False
    assert container_sc["capabilities"] == {"drop": ["ALL"]}


def make_settings(**env: str) -> Settings:
    base = {
        "AGENT_ID": AGENT,
        "INGESTION_NAMESPACE": NAMESPACE,
        "INGESTION_IMAGE": "registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        "INGESTION_SERVICE_ACCOUNT_NAME": "ingestion",
        "INGESTION_IMAGE_PULL_SECRETS": "omd-registry-credentials",
        "INGESTION_CPU_REQUEST": "1000m",
        "INGESTION_CPU_LIMIT": "1000m",
        "INGESTION_MEMORY_REQUEST": "4096Mi",
        "INGESTION_MEMORY_LIMIT": "4096Mi",
        "INGESTION_AUTOMATION_WORKFLOW_CPU_REQUEST": "200m",
        "INGESTION_AUTOMATION_WORKFLOW_CPU_LIMIT": "500m",
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_REQUEST": "256Mi",
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_LIMIT": "512Mi",
    }
    base.update(env)
    return Settings.from_env(base)


def make_spec(
    run_id: str = "run-0001",
    *,
    pipeline_type: str = "metadata",
    kind: str = "pipeline",
    fqn: str = "mysql_prod.mysql_prod_metadata_Ab12",
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> LaunchSpec:
    return LaunchSpec(
        run_id=run_id,
        run_name=run_name(run_id),
        kind=kind,  # type: ignore[arg-type]
        pipeline_type=pipeline_type,
        pipeline_fqn=fqn,
        config=config if config is not None else {"source": {"type": "mysql"}},
        image="registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        env=env if env is not None else {"KUBERNETES_IN_CLUSTER": "true"},
    )


# -- golden files ------------------------------------------------------------------------------


def dump(manifests: list[dict[str, Any]] | dict[str, Any]) -> str:
    docs = manifests if isinstance(manifests, list) else [manifests]
    return yaml.safe_dump_all(docs, sort_keys=False, width=100)


def assert_golden(name: str, manifests: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Compare with ``golden/<name>.yaml``; HYBRID_RUNNER_UPDATE_GOLDEN=1 rewrites it."""
    text = dump(manifests)
    assert "&id" not in text, "manifests must not share objects (YAML aliases in dry-run output)"
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("HYBRID_RUNNER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path} (run with HYBRID_RUNNER_UPDATE_GOLDEN=1)"
    assert text == path.read_text(), f"{name}: manifest differs from {path}"


# -- Kubernetes schema --------------------------------------------------------------------------


def k8s_validate(manifest: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(copy.deepcopy(manifest), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        pytest.fail(
            f"{manifest['kind']} invalid for Kubernetes {version} at {where}: {exc.message}"
        )


def workflow_pod(workflow: dict[str, Any]) -> dict[str, Any]:
    """The pod the workflow-controller makes of a single-template Workflow (its ``main`` part),
    so the pod-level fields are checked against the Kubernetes Pod schema too."""
    spec = workflow["spec"]
    template = spec["templates"][0]
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [template["container"]]}
    for key in (
        "serviceAccountName",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "securityContext",
        "tolerations",
        "affinity",
        "nodeSelector",
        "activeDeadlineSeconds",
    ):
        if key in spec:
            pod_spec[key] = spec[key]
    if "podPriorityClassName" in spec:
        pod_spec["priorityClassName"] = spec["podPriorityClassName"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": workflow["metadata"]["name"],
            "namespace": workflow["metadata"]["namespace"],
            **spec.get("podMetadata", {}),
        },
        "spec": pod_spec,
    }


# -- Argo CRD schema -------------------------------------------------------------------------------


@functools.cache
def _argo_module_dir() -> Path:
    GOMODCACHE.mkdir(parents=True, exist_ok=True)
    go = shutil.which("go")
    if go is None:
        pytest.skip(
            f"`go` is not installed: the Argo CRD schema comes from the Go module proxy "
            f"({ARGO_MODULE}@{ARGO_VERSION})"
        )
    env = dict(os.environ, GOMODCACHE=str(GOMODCACHE), GOFLAGS="-mod=mod", GO111MODULE="on")
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{ARGO_MODULE}@{ARGO_VERSION}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(GOMODCACHE.parent) if GOMODCACHE.parent.exists() else None,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"go mod download {ARGO_MODULE}@{ARGO_VERSION} failed: {result.stdout}{result.stderr}"
        )
    return Path(json.loads(result.stdout)["Dir"])


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def argo_validator(kind: str) -> jsonschema.Draft7Validator:
    plural = {"Workflow": "workflows", "CronWorkflow": "cronworkflows"}[kind]
    # The CRD YAML is large (3 MB): its schema is cached as JSON next to the module cache.
    cached = GOMODCACHE.parent / "argo-schemas" / ARGO_VERSION / f"{plural}.json"
    if cached.exists():
        schema = json.loads(cached.read_text())
    else:
        crd_file = (
            _argo_module_dir()
            / "manifests"
            / "base"
            / "crds"
            / "full"
            / f"argoproj.io_{plural}.yaml"
        )
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        crd = yaml.load(crd_file.read_text(), Loader=loader)
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
        schema = version["schema"]["openAPIV3Schema"]
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema))
        tmp.replace(cached)
    return jsonschema.Draft7Validator(_strict(schema))


def argo_validate(manifest: dict[str, Any]) -> None:
    validator = argo_validator(manifest["kind"])
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]]
        pytest.fail(f"{manifest['kind']} invalid against Argo's CRD schema:\n" + "\n".join(lines))


# -- watch streams ---------------------------------------------------------------------------------


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def gone() -> dict[str, Any]:
    return {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
