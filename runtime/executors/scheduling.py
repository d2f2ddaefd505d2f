"""Where ingestion pods run: per pipeline type placement and the customConfig spec files.

``ARGO_PIPELINE_TYPE_CONFIGS`` (``argo``) and ``SIMPLEK8S_PIPELINE_TYPE_CONFIGS``
(``simpleK8s``) are JSON objects keyed by OpenMetadata pipeline type (plus ``automation`` for
test connection). Their fields, as the Collate hybrid runner documents them:

=================  ==============================================  ===========================
field              ARGO_PIPELINE_TYPE_CONFIGS                      SIMPLEK8S_PIPELINE_TYPE_CONFIGS
=================  ==============================================  ===========================
``toleration``     string ``v`` -> one toleration                   --
                   ``dedicated=v:NoSchedule`` (operator Equal)
``tolerations``    --                                              list of toleration objects
``affinity``       a Kubernetes ``Affinity`` object                --
``nodeSelector``   object of label -> value                        same
``priorityClass``  PriorityClass name (``priorityClassName``)      same
                   (alias ``priorityClassName``, the key of the
                   public chart's example)
``resources``      ``{requests, limits}``, over the INGESTION_*    same
                   resource variables
``activeDeadline`` the run's deadline in seconds over              same
``Seconds``        RUN_TIMEOUT_SECONDS (0: none; ``deadlines``)
=================  ==============================================  ===========================

For example::

    ARGO_PIPELINE_TYPE_CONFIGS='{"metadata": {"toleration": "ingestion",
        "nodeSelector": {"pool": "ingestion"}},
      "profiler": {"priorityClass": "low", "resources": {"limits": {"memory": "8Gi"}}}}'

Validation is strict: an unknown pipeline type, an unknown field or a wrong type stops start-up
with a ``ConfigError`` that names the variable and the JSON path (``$.profiler.resources``);
the entries are structured through cattrs (``placement_json``).

The chart's ``customConfig`` files (``ARGO_INGESTION_*_SPEC_FILE_PATH``) are in
``custom_config``; both are checked here at start-up with the executor's other variables.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from runtime.config.backends import ARGO_CONFIGS, EXECUTOR_TYPES, SIMPLEK8S_CONFIGS
from runtime.config.env_parsers import json_type as _type
from runtime.config.pipeline_types import PIPELINE_TYPES as PIPELINE_TYPES
from runtime.config.pipeline_types import suggest
from runtime.executors.kube.custom_config import job_params, spec_files
from runtime.executors.kube.placement import ArgoEntry, JobsEntry, structure_entry
from runtime.settings import VARIABLES, Settings
from runtime.wire.errors import ConfigError

ARGO_VARIABLE = ARGO_CONFIGS
SIMPLEK8S_VARIABLE = SIMPLEK8S_CONFIGS

Flavor = Literal["argo", "simpleK8s"]

#: ``priorityClassName`` is an alias: the public chart's own example uses it.
PRIORITY_KEYS = ("priorityClass", "priorityClassName")


@attrs.frozen(kw_only=True)
class Placement:
    """Scheduling of one pipeline type's pods (already validated)."""

    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = None
    priority_class: str | None = None
    resources: dict[str, dict[str, str]] | None = None
    #: The type's run deadline (``activeDeadlineSeconds``); None: RUN_TIMEOUT_SECONDS.
    active_deadline_seconds: int | None = None

    def pod_fields(self, *, priority_key: str) -> dict[str, Any]:
        """Pod-level fields; ``priority_key`` is ``priorityClassName`` in a pod spec and
        ``podPriorityClassName`` in a Workflow spec."""
        out: dict[str, Any] = {}
        if self.tolerations:
            out["tolerations"] = [dict(t) for t in self.tolerations]
        if self.affinity:
            out["affinity"] = copy.deepcopy(self.affinity)
        if self.node_selector:
            out["nodeSelector"] = dict(self.node_selector)
        if self.priority_class:
            out[priority_key] = self.priority_class
        return out


EMPTY = Placement()


def placement_for(configs: Mapping[str, Placement], pipeline_type: str) -> Placement:
    return configs.get(pipeline_type, EMPTY)


def parse_pipeline_type_configs(
    raw: Mapping[str, Any] | None, flavor: Flavor, variable: str | None = None
) -> dict[str, Placement]:
    """Validate one ``*_PIPELINE_TYPE_CONFIGS`` object (through cattrs, ``placement_json``);
    raise ``ConfigError`` naming the variable and the JSON path of every problem."""
    var = variable or (ARGO_VARIABLE if flavor == "argo" else SIMPLEK8S_VARIABLE)
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(var, f"$: expected a JSON object, got {_type(raw)}")
    out: dict[str, Placement] = {}
    for pipeline_type, entry in raw.items():
        path = f"$.{pipeline_type}"
        if pipeline_type not in PIPELINE_TYPES:
            raise ConfigError(var, f"{path}: unknown pipeline type{suggest(pipeline_type)}")
        try:
            structured = structure_entry(path, entry, ArgoEntry if flavor == "argo" else JobsEntry)
            out[pipeline_type] = _placement(path, entry, structured)
        except ValueError as exc:
            raise ConfigError(var, str(exc)) from None
    return out


def _placement(path: str, raw: Mapping[str, Any], entry: ArgoEntry | JobsEntry) -> Placement:
    """The validated entry as a Placement (tolerations and affinity as written)."""
    if entry.priorityClass is not None and entry.priorityClassName is not None:
        raise ValueError(f"{path}: priorityClass and priorityClassName are the same field; set one")
    tolerations: tuple[dict[str, Any], ...] = ()
    if isinstance(entry, ArgoEntry) and entry.toleration is not None:
        tolerations = (
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": entry.toleration,
                "effect": "NoSchedule",
            },
        )
    if isinstance(entry, JobsEntry) and entry.tolerations is not None:
        for i, item in enumerate(raw["tolerations"]):
            _check_toleration(f"{path}.tolerations[{i}]", item)
        tolerations = tuple(dict(item) for item in raw["tolerations"])
    affinity = None
    if isinstance(entry, ArgoEntry) and entry.affinity is not None:
        affinity = copy.deepcopy(dict(raw["affinity"]))
    resources = None
    if entry.resources is not None:
        given = entry.resources
        resources = {str(s): dict(getattr(given, s) or {}) for s in raw["resources"]}
    return Placement(
        tolerations=tolerations,
        affinity=affinity,
        node_selector=_labels(entry.nodeSelector),
        priority_class=entry.priorityClass or entry.priorityClassName,
        resources=resources,
        active_deadline_seconds=entry.activeDeadlineSeconds,
    )


def _labels(given: Mapping[Any, Any] | None) -> dict[str, str] | None:
    return None if given is None else {str(key): str(value) for key, value in given.items()}


def _check_toleration(path: str, item: Mapping[str, Any]) -> None:
    """What a toleration's fields mean together (each field's type is checked already)."""
    operator = item.get("operator", "Equal")
    effect = item.get("effect", "")
    if operator == "Exists" and item.get("value"):
        raise ValueError(f"{path}.value: must be empty when operator is Exists")
    if operator == "Equal" and not item.get("key"):
        raise ValueError(f"{path}.key: required when operator is Equal")
    if "tolerationSeconds" in item and effect != "NoExecute":
        raise ValueError(f"{path}.tolerationSeconds: only valid with effect NoExecute")


def merge_resources(
    base: Mapping[str, Mapping[str, str]], overlay: Mapping[str, Mapping[str, str]] | None
) -> dict[str, dict[str, str]]:
    out = {section: dict(values) for section, values in base.items()}
    for section, values in (overlay or {}).items():
        out.setdefault(section, {}).update(values)
    return {k: v for k, v in out.items() if v}


def apply_container_placement(container: dict[str, Any], placement: Placement) -> dict[str, Any]:
    """``container`` with the pipeline type's resources over the INGESTION_* ones."""
    if not placement.resources:
        return container
    out = dict(container)
    merged = merge_resources(container.get("resources", {}), placement.resources)
    if merged:
        out["resources"] = merged
    return out


# -- start-up validation --------------------------------------------------------------------


def unused_variables(executor_type: str, settings: Settings) -> list[str]:
    """Warnings naming the executor variables that are set but mean nothing to
    ``executor_type`` (the other executors'; all of them for one that declares none)."""
    used = set(EXECUTOR_TYPES[executor_type].variables)
    declared = {name for kind in EXECUTOR_TYPES.values() for name in kind.variables}
    return [
        f"{var.name} is set but has no effect with EXECUTOR_TYPE={executor_type}"
        for var in VARIABLES
        if var.name in declared and var.name not in used and getattr(settings, var.field)
    ]


def check_pod_variables(flavor: Flavor, settings: Settings) -> list[str]:
    """The ``check`` of the ``argo`` and ``simpleK8s`` entries: placement per pipeline type and
    the customConfig spec files (a Job takes only some workflow keys: the others are warned
    about)."""
    if flavor == "argo":
        parse_pipeline_type_configs(settings.argo_pipeline_type_configs, "argo")
    else:
        parse_pipeline_type_configs(settings.simplek8s_pipeline_type_configs, "simpleK8s")
    workflow_params, _container_params = spec_files(settings)
    if flavor == "simpleK8s":
        return list(job_params(workflow_params).warnings)
    return []
