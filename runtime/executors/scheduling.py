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
=================  ==============================================  ===========================

For example::

    ARGO_PIPELINE_TYPE_CONFIGS='{"metadata": {"toleration": "ingestion",
        "nodeSelector": {"pool": "ingestion"}},
      "profiler": {"priorityClass": "low", "resources": {"limits": {"memory": "8Gi"}}}}'

Validation is strict: an unknown pipeline type, an unknown field or a wrong type stops start-up
with a ``ConfigError`` that names the variable and the JSON path (``$.profiler.resources``).

The chart's ``customConfig`` files (``ARGO_INGESTION_*_SPEC_FILE_PATH``) are in
``custom_config``; both are checked here at start-up with the executor's other variables.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from runtime.backends import ARGO_CONFIGS, EXECUTORS, SIMPLEK8S_CONFIGS
from runtime.backends import unused_variables as unused_variables  # the executors import it here
from runtime.env_parsers import json_type as _type
from runtime.errors import ConfigError
from runtime.executors.custom_config import job_params, spec_files
from runtime.settings import Settings

ARGO_VARIABLE = ARGO_CONFIGS
SIMPLEK8S_VARIABLE = SIMPLEK8S_CONFIGS

#: OpenMetadata's ``PipelineType`` enum (ingestionPipeline.json), plus ``automation``.
PIPELINE_TYPES = (
    "metadata",
    "usage",
    "lineage",
    "profiler",
    "autoClassification",
    "TestSuite",
    "dataInsight",
    "elasticSearchReindex",
    "dbt",
    "application",
    "policyAgent",
    "automation",
)

Flavor = Literal["argo", "simpleK8s"]

#: ``priorityClassName`` is an alias: the public chart's own example uses it.
PRIORITY_KEYS = ("priorityClass", "priorityClassName")
_FIELDS: dict[Flavor, tuple[str, ...]] = {
    "argo": ("toleration", "affinity", "nodeSelector", *PRIORITY_KEYS, "resources"),
    "simpleK8s": ("tolerations", "nodeSelector", *PRIORITY_KEYS, "resources"),
}
_HINTS = {
    ("argo", "tolerations"): (
        "ARGO_PIPELINE_TYPE_CONFIGS takes `toleration` (a string v for dedicated=v:NoSchedule); "
        "put full toleration objects in the file named by ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    ),
    ("simpleK8s", "toleration"): (
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS takes `tolerations`, a list of toleration objects"
    ),
    ("simpleK8s", "affinity"): "affinity is only available in ARGO_PIPELINE_TYPE_CONFIGS",
}
_AFFINITY_KINDS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
_TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")
_TOLERATION_OPERATORS = ("Equal", "Exists")
_TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@attrs.frozen(kw_only=True)
class Placement:
    """Scheduling of one pipeline type's pods (already validated)."""

    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = None
    priority_class: str | None = None
    resources: dict[str, dict[str, str]] | None = None

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
    """Validate one ``*_PIPELINE_TYPE_CONFIGS`` object; raise ``ConfigError`` naming the path."""
    var = variable or (ARGO_VARIABLE if flavor == "argo" else SIMPLEK8S_VARIABLE)
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(var, f"$: expected a JSON object, got {_type(raw)}")
    out: dict[str, Placement] = {}
    for pipeline_type, entry in raw.items():
        path = f"$.{pipeline_type}"
        if pipeline_type not in PIPELINE_TYPES:
            raise ConfigError(var, f"{path}: unknown pipeline type{_suggest(pipeline_type)}")
        if not isinstance(entry, Mapping):
            raise ConfigError(var, f"{path}: expected an object, got {_type(entry)}")
        allowed = _FIELDS[flavor]
        for field in entry:
            if field not in allowed:
                hint = _HINTS.get((flavor, field)) or f"expected one of {', '.join(allowed)}"
                raise ConfigError(var, f"{path}.{field}: unknown field; {hint}")
        out[pipeline_type] = _placement(var, path, entry, flavor)
    return out


def _placement(var: str, path: str, entry: Mapping[str, Any], flavor: Flavor) -> Placement:
    tolerations: tuple[dict[str, Any], ...] = ()
    if "toleration" in entry:
        value = entry["toleration"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                var, f"{path}.toleration: expected a non-empty string, got {_type(value)}"
            )
        if not _LABEL_VALUE.match(value.strip()):
            raise ConfigError(var, f"{path}.toleration: {value!r} is not a valid taint value")
        tolerations = (
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": value.strip(),
                "effect": "NoSchedule",
            },
        )
    if "tolerations" in entry:
        tolerations = tuple(_tolerations(var, f"{path}.tolerations", entry["tolerations"]))
    affinity = None
    if "affinity" in entry:
        affinity = _affinity(var, f"{path}.affinity", entry["affinity"])
    node_selector = None
    if "nodeSelector" in entry:
        node_selector = _node_selector(var, f"{path}.nodeSelector", entry["nodeSelector"])
    priority_class = _priority_class(var, path, entry)
    resources = None
    if "resources" in entry:
        resources = parse_resources(var, f"{path}.resources", entry["resources"])
    return Placement(
        tolerations=tolerations,
        affinity=affinity,
        node_selector=node_selector,
        priority_class=priority_class,
        resources=resources,
    )


def _priority_class(var: str, path: str, entry: Mapping[str, Any]) -> str | None:
    """``priorityClass``, or its alias ``priorityClassName`` (the public chart's example key)."""
    given = [key for key in PRIORITY_KEYS if key in entry]
    if not given:
        return None
    if len(given) > 1:
        raise ConfigError(
            var, f"{path}: priorityClass and priorityClassName are the same field; set one"
        )
    value = entry[given[0]]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            var, f"{path}.{given[0]}: expected a non-empty string, got {_type(value)}"
        )
    return value.strip()


def _tolerations(var: str, path: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ConfigError(var, f"{path}: expected a list of toleration objects, got {_type(value)}")
    out = []
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(var, f"{p}: expected a toleration object, got {_type(item)}")
        for field in item:
            if field not in _TOLERATION_FIELDS:
                raise ConfigError(
                    var,
                    f"{p}.{field}: unknown field; expected one of {', '.join(_TOLERATION_FIELDS)}",
                )
        for field in ("key", "operator", "value", "effect"):
            if field in item and not isinstance(item[field], str):
                raise ConfigError(var, f"{p}.{field}: expected a string, got {_type(item[field])}")
        operator = item.get("operator", "Equal")
        if operator not in _TOLERATION_OPERATORS:
            raise ConfigError(var, f"{p}.operator: expected Equal or Exists, got {operator!r}")
        effect = item.get("effect", "")
        if effect and effect not in _TOLERATION_EFFECTS:
            raise ConfigError(
                var,
                f"{p}.effect: expected one of {', '.join(_TOLERATION_EFFECTS)}, got {effect!r}",
            )
        if operator == "Exists" and item.get("value"):
            raise ConfigError(var, f"{p}.value: must be empty when operator is Exists")
        if operator == "Equal" and not item.get("key"):
            raise ConfigError(var, f"{p}.key: required when operator is Equal")
        if "tolerationSeconds" in item:
            seconds = item["tolerationSeconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int):
                raise ConfigError(
                    var, f"{p}.tolerationSeconds: expected an integer, got {_type(seconds)}"
                )
            if effect != "NoExecute":
                raise ConfigError(var, f"{p}.tolerationSeconds: only valid with effect NoExecute")
        out.append(dict(item))
    return out


def _affinity(var: str, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(var, f"{path}: expected an Affinity object, got {_type(value)}")
    for kind, body in value.items():
        if kind not in _AFFINITY_KINDS:
            raise ConfigError(
                var, f"{path}.{kind}: unknown field; expected one of {', '.join(_AFFINITY_KINDS)}"
            )
        if not isinstance(body, Mapping):
            raise ConfigError(var, f"{path}.{kind}: expected an object, got {_type(body)}")
    return copy.deepcopy(dict(value))


def _node_selector(var: str, path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(var, f"{path}: expected an object of label -> value, got {_type(value)}")
    out = {}
    for key, label in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise ConfigError(var, f"{path}.{key}: not a valid label key")
        if not isinstance(label, str):
            raise ConfigError(var, f"{path}.{key}: expected a string, got {_type(label)}")
        if not _LABEL_VALUE.match(label):
            raise ConfigError(var, f"{path}.{key}: {label!r} is not a valid label value")
        out[key] = label
    return out


def parse_resources(var: str, path: str, value: Any) -> dict[str, dict[str, str]]:
    """``{requests: {cpu: "1", memory: "2Gi"}, limits: {...}}`` with quantities checked."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            var, f"{path}: expected an object with requests/limits, got {_type(value)}"
        )
    out: dict[str, dict[str, str]] = {}
    for section, quantities in value.items():
        if section not in ("requests", "limits"):
            raise ConfigError(var, f"{path}.{section}: unknown field; expected requests or limits")
        if not isinstance(quantities, Mapping):
            raise ConfigError(var, f"{path}.{section}: expected an object, got {_type(quantities)}")
        parsed: dict[str, str] = {}
        for resource, quantity in quantities.items():
            p = f"{path}.{section}.{resource}"
            if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
                raise ConfigError(
                    var, f'{p}: expected a quantity such as "2Gi", got {_type(quantity)}'
                )
            text = str(quantity)
            if not _QUANTITY.match(text):
                raise ConfigError(var, f"{p}: {text!r} is not a Kubernetes quantity")
            parsed[str(resource)] = text
        out[str(section)] = parsed
    return out


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


def validate_settings_for(executor_type: str, settings: Settings) -> list[str]:
    """Check the variables of ``executor_type`` (its registry entry's ``check``); return
    warnings, among them the variables that have no effect with it. Raises ``ConfigError`` for
    a bad value."""
    return EXECUTORS[executor_type].check(settings) + unused_variables(executor_type, settings)


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


def _suggest(pipeline_type: Any) -> str:
    text = str(pipeline_type)
    for known in PIPELINE_TYPES:
        if known.lower() == text.lower():
            return f" (did you mean {known!r}? pipeline types are case-sensitive)"
    close = difflib.get_close_matches(text, PIPELINE_TYPES, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; expected one of {', '.join(PIPELINE_TYPES)}"
