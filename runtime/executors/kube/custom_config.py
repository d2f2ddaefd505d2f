"""The chart's ``customConfig`` files, for both Kubernetes executors.

``ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH`` / ``ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH`` (the
chart's ``customConfig.workflowParams`` / ``containerParams``) are YAML or JSON files read once
when the executor is built. Collate's public chart sets them in both of its modes despite the
``ARGO_`` prefix, so they apply to ``simpleK8s`` too: a values.yaml written for that chart means
the same here, whichever executor runs it.

Merging (``deep_merge``): objects merge key by key, lists in ``APPEND_LISTS`` (``tolerations``,
``env``, ``volumes``, ...) are appended, anything else from the file wins.

* container params: merged into the ``main`` container, in both executors.
* workflow params, ``argo``: merged into every Workflow spec (a ``priorityClassName`` key is
  taken for Argo's ``podPriorityClassName``).
* workflow params, ``simpleK8s``: each key that has a meaning for a Job goes where a Job has it
  (``JOB_KEYS``); a key with none (``podGC``, ``retryStrategy``, ``onExit``, ...) is ignored
  with a start-up warning naming it:

  ==================================================  ========================================
  workflow params key                                 Job
  ==================================================  ========================================
  ``tolerations``, ``nodeSelector``, ``affinity``,     the pod template's field of that name
  ``schedulerName``, ``securityContext``,
  ``serviceAccountName``,
  ``automountServiceAccountToken``, ``volumes``,
  ``imagePullSecrets``, ``hostAliases``,
  ``hostNetwork``, ``dnsPolicy``, ``dnsConfig``,
  ``priorityClassName``
  ``podPriorityClassName``                            the pod's ``priorityClassName``
  ``podMetadata`` (labels, annotations)               the pod template's ``metadata``
  ``activeDeadlineSeconds``                           the Job's ``activeDeadlineSeconds``
  ``ttlStrategy.secondsAfterCompletion``              the Job's ``ttlSecondsAfterFinished``
  ==================================================  ========================================

Keys the runner owns (``entrypoint``, ``templates``, ``shutdown``, ``suspend``,
``workflowTemplateRef``) are refused in both modes, and so is an ``env`` entry that would
replace the pod contract.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from runtime.config.env_parsers import json_type as _type
from runtime.config.workloads import KubernetesExecutorSettings
from runtime.executors.kube.pod import CONTRACT_ENV, MAIN_CONTAINER
from runtime.wire.errors import ConfigError

WORKFLOW_FILE_VARIABLE = "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
CONTAINER_FILE_VARIABLE = "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH"

#: Lists that the spec files extend rather than replace.
APPEND_LISTS = frozenset(
    {"tolerations", "env", "envFrom", "volumes", "volumeMounts", "imagePullSecrets", "hostAliases"}
)
#: Workflow spec keys the runner owns: a file setting them would break the run.
_RESERVED_WORKFLOW_KEYS = ("entrypoint", "templates", "shutdown", "suspend", "workflowTemplateRef")
#: Workflow spec keys that are pod spec fields of the same name.
_POD_KEYS = (
    "tolerations",
    "nodeSelector",
    "affinity",
    "schedulerName",
    "securityContext",
    "serviceAccountName",
    "automountServiceAccountToken",
    "volumes",
    "imagePullSecrets",
    "hostAliases",
    "hostNetwork",
    "dnsPolicy",
    "dnsConfig",
    "priorityClassName",
)
#: Every workflow params key that means something for a Job.
JOB_KEYS = (
    *_POD_KEYS,
    "podPriorityClassName",
    "podMetadata",
    "activeDeadlineSeconds",
    "ttlStrategy",
)


def load_spec_file(variable: str, path: str) -> dict[str, Any]:
    """A YAML or JSON object from ``path``; an empty path or an empty file is ``{}``."""
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(variable, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(variable, f"{path} is not valid YAML or JSON{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(variable, f"{path}: expected a mapping at the top, got {_type(data)}")
    return data


def check_workflow_params(
    params: Mapping[str, Any], variable: str = WORKFLOW_FILE_VARIABLE
) -> None:
    for key in _RESERVED_WORKFLOW_KEYS:
        if key in params:
            raise ConfigError(variable, f"$.{key}: set by the runner; remove it from the file")
    if "priorityClassName" in params and "podPriorityClassName" in params:
        raise ConfigError(
            variable,
            "$: priorityClassName and podPriorityClassName are the same field here; set one",
        )


def check_container_params(
    params: Mapping[str, Any], variable: str = CONTAINER_FILE_VARIABLE
) -> None:
    if "name" in params and params["name"] != MAIN_CONTAINER:
        raise ConfigError(
            variable, f"$.name: the ingestion container must be named {MAIN_CONTAINER}"
        )
    for i, item in enumerate(params.get("env") or []):
        if isinstance(item, Mapping) and item.get("name") in CONTRACT_ENV:
            raise ConfigError(
                variable, f"$.env[{i}]: {item['name']} is set by the runner (pod contract)"
            )


def spec_files(
    settings: KubernetesExecutorSettings,
    workflow: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow and container params, read from the two files unless given, and checked."""
    if workflow is None:
        workflow = load_spec_file(WORKFLOW_FILE_VARIABLE, settings.argo_workflow_spec_file)
    if container is None:
        container = load_spec_file(CONTAINER_FILE_VARIABLE, settings.argo_container_spec_file)
    check_workflow_params(workflow)
    check_container_params(container)
    return workflow, container


def argo_workflow_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Workflow params for a Workflow spec: ``priorityClassName`` (a pod field, what a Job
    takes) is Argo's ``podPriorityClassName``; everything else as written."""
    out = dict(params)
    if "priorityClassName" in out:
        out["podPriorityClassName"] = out.pop("priorityClassName")
    return out


@attrs.frozen(kw_only=True)
class JobParams:
    """Workflow params translated for a Job: where each part is merged."""

    pod_spec: dict[str, Any] = attrs.field(factory=dict)
    pod_metadata: dict[str, Any] = attrs.field(factory=dict)
    job_spec: dict[str, Any] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()


def job_params(params: Mapping[str, Any]) -> JobParams:
    """Map Workflow spec keys to a Job (see the module docstring); warn about the others."""
    pod_spec: dict[str, Any] = {}
    pod_metadata: dict[str, Any] = {}
    job_spec: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in params.items():
        if key in _POD_KEYS:
            pod_spec[key] = copy.deepcopy(value)
        elif key == "podPriorityClassName":
            pod_spec["priorityClassName"] = value
        elif key == "podMetadata":
            pod_metadata = copy.deepcopy(dict(_object(key, value)))
        elif key == "activeDeadlineSeconds":
            job_spec["activeDeadlineSeconds"] = value
        elif key == "ttlStrategy":
            for ttl_key, seconds in _object(key, value).items():
                if ttl_key == "secondsAfterCompletion":
                    job_spec["ttlSecondsAfterFinished"] = seconds
                else:
                    warnings.append(_no_meaning(f"ttlStrategy.{ttl_key}"))
        else:
            warnings.append(_no_meaning(key))
    return JobParams(
        pod_spec=pod_spec, pod_metadata=pod_metadata, job_spec=job_spec, warnings=tuple(warnings)
    )


def _no_meaning(key: str) -> str:
    root = key.split(".", 1)[0]
    close = difflib.get_close_matches(root, JOB_KEYS, n=1) if "." not in key else []
    hint = f" (did you mean {close[0]!r}?)" if close and close[0] != root else ""
    return (
        f"{WORKFLOW_FILE_VARIABLE}: $.{key} has no meaning for a Kubernetes Job "
        f"(EXECUTOR_TYPE=simpleK8s) and is ignored{hint}"
    )


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into a copy of ``base``: objects recursively, lists in
    ``APPEND_LISTS`` appended (items already present are not repeated), everything else from
    ``overlay``."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            out[key] = deep_merge(current, value)
        elif key in APPEND_LISTS and isinstance(current, list) and isinstance(value, list):
            out[key] = current + [copy.deepcopy(v) for v in value if v not in current]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _object(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            WORKFLOW_FILE_VARIABLE, f"$.{key}: expected an object, got {_type(value)}"
        )
    return value
