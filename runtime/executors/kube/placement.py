"""The JSON shape of one ``*_PIPELINE_TYPE_CONFIGS`` entry, structured through cattrs.

Each object of the variable is an attrs class here; leaves with a rule of their own (a taint
value, a label, a quantity, a toleration operator) are ``NewType``s with a structure hook that
raises the message. ``cattrs.transform_error`` names the JSON path of every problem, written as
``$.profiler.resources.limits.memory: '4 GB' is not a Kubernetes quantity``. An unknown key is
refused with the keys the object takes (and, for a key of the other executor's variable, where
it belongs). ``runtime.executors.scheduling`` turns a structured entry into a ``Placement``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, NewType

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, override

from runtime.config.env_parsers import json_type

TaintValue = NewType("TaintValue", str)
NonEmpty = NewType("NonEmpty", str)
LabelKey = NewType("LabelKey", str)
LabelValue = NewType("LabelValue", str)
Quantity = NewType("Quantity", str)
Operator = NewType("Operator", str)
Effect = NewType("Effect", str)
Seconds = NewType("Seconds", int)

TOLERATION_OPERATORS = ("Equal", "Exists")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@attrs.frozen(kw_only=True)
class Toleration:
    key: str | None = None
    operator: Operator | None = None
    value: str | None = None
    effect: Effect | None = None
    tolerationSeconds: int | None = None


@attrs.frozen(kw_only=True)
class Affinity:
    nodeAffinity: dict[str, Any] | None = None
    podAffinity: dict[str, Any] | None = None
    podAntiAffinity: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Resources:
    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


@attrs.frozen(kw_only=True)
class ArgoEntry:
    """One pipeline type in ``ARGO_PIPELINE_TYPE_CONFIGS``."""

    toleration: TaintValue | None = None
    affinity: Affinity | None = None
    nodeSelector: dict[LabelKey, LabelValue] | None = None
    priorityClass: NonEmpty | None = None
    #: An alias of ``priorityClass``: the public chart's own example uses it.
    priorityClassName: NonEmpty | None = None
    resources: Resources | None = None
    #: The run's deadline (RUN_TIMEOUT_SECONDS for this type); 0: none.
    activeDeadlineSeconds: Seconds | None = None


@attrs.frozen(kw_only=True)
class JobsEntry:
    """One pipeline type in ``SIMPLEK8S_PIPELINE_TYPE_CONFIGS``."""

    tolerations: list[Toleration] | None = None
    nodeSelector: dict[LabelKey, LabelValue] | None = None
    priorityClass: NonEmpty | None = None
    priorityClassName: NonEmpty | None = None
    resources: Resources | None = None
    activeDeadlineSeconds: Seconds | None = None


#: Where a key of the other variable belongs, said instead of the list of known keys.
_HINTS: dict[tuple[type, str], str] = {
    (ArgoEntry, "tolerations"): (
        "ARGO_PIPELINE_TYPE_CONFIGS takes `toleration` (a string v for dedicated=v:NoSchedule); "
        "put full toleration objects in the file named by ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
    ),
    (JobsEntry, "toleration"): (
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS takes `tolerations`, a list of toleration objects"
    ),
    (JobsEntry, "affinity"): "affinity is only available in ARGO_PIPELINE_TYPE_CONFIGS",
}
#: How a message names each object when the value is something else.
_OBJECT_NAMES: dict[type, str] = {
    ArgoEntry: "an object",
    JobsEntry: "an object",
    Affinity: "an Affinity object",
    Toleration: "a toleration object",
    Resources: "an object with requests/limits",
}


def _expected(names: tuple[str, ...]) -> str:
    if len(names) == 2:
        return f"expected {names[0]} or {names[1]}"
    return f"expected one of {', '.join(names)}"


def _string(value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected {what}, got {json_type(value)}")
    return value


def _taint_value(value: Any, _: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {json_type(value)}")
    if not _LABEL_VALUE.match(value.strip()):
        raise ValueError(f"{value!r} is not a valid taint value")
    return value.strip()


def _non_empty(value: Any, _: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty string, got {json_type(value)}")
    return value.strip()


def _label_key(value: Any, _: Any) -> str:
    if not isinstance(value, str) or not _LABEL_KEY.match(value):
        raise ValueError("not a valid label key")
    return value


def _label_value(value: Any, _: Any) -> str:
    if not _LABEL_VALUE.match(_string(value)):
        raise ValueError(f"{value!r} is not a valid label value")
    return str(value)


def _quantity(value: Any, _: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f'expected a quantity such as "2Gi", got {json_type(value)}')
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return text


def _one_of(choices: tuple[str, ...], *, blank: bool = False) -> Callable[[Any, Any], str]:
    def structure(value: Any, _: Any) -> str:
        if (blank and value == "") or _string(value) in choices:
            return str(value)
        if len(choices) == 2:
            raise ValueError(f"expected {choices[0]} or {choices[1]}, got {value!r}")
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")

    return structure


def _seconds(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a number of seconds (an integer, 0 for none), got {value!r}")
    return value


def _integer(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {json_type(value)}")
    return value


def _unknown_keys(cl: type, data: Mapping[str, Any]) -> ClassValidationError | None:
    """A cattrs error naming every key ``cl`` does not take, each at its own path."""
    known = tuple(field.name for field in attrs.fields(cl))
    problems: list[Exception] = []
    for key in data:
        if key not in known:
            problem = ValueError(f"unknown field; {_HINTS.get((cl, key)) or _expected(known)}")
            problem.add_note(AttributeValidationNote(f"Unknown key {key}", str(key), object))
            problems.append(problem)
    if not problems:
        return None
    return ClassValidationError(f"While structuring {cl.__name__}", problems, cl)


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, lambda value, _: _string(value))
    conv.register_structure_hook(int, _integer)
    for new_type, hook in (
        (TaintValue, _taint_value),
        (NonEmpty, _non_empty),
        (LabelKey, _label_key),
        (LabelValue, _label_value),
        (Quantity, _quantity),
        (Operator, _one_of(TOLERATION_OPERATORS)),
        (Effect, _one_of(TOLERATION_EFFECTS, blank=True)),
        (Seconds, _seconds),
    ):
        conv.register_structure_hook(new_type, hook)

    def objects(cl: type) -> Callable[[Any, Any], Any]:
        # A key given as null is refused as the field's type refuses it: ``None`` only ever
        # stands for a key that is absent.
        hints = typing.get_type_hints(cl)
        present: dict[str, Any] = {
            field.name: override(struct_hook=_present(conv, hints[field.name]))
            for field in attrs.fields(cl)
        }
        structure: Callable[[Any, Any], Any] = make_dict_structure_fn(cl, conv, **present)

        def checked(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected {_OBJECT_NAMES[cl]}, got {json_type(value)}")
            unknown = _unknown_keys(cl, value)
            if unknown is not None:
                raise unknown
            return structure(value, cl)

        return checked

    conv.register_structure_hook_factory(attrs.has, objects)
    _guard(conv, list[Toleration], list, "a list of toleration objects")
    _guard(conv, dict[LabelKey, LabelValue], Mapping, "an object of label -> value")
    _guard(conv, dict[str, Quantity], Mapping, "an object")
    _guard(conv, dict[str, Any], Mapping, "an object")
    return conv


def _present(conv: cattrs.Converter, optional: Any) -> Callable[[Any, Any], Any]:
    (inner,) = [arg for arg in typing.get_args(optional) if arg is not type(None)]
    return lambda value, _: conv.structure(value, inner)


def _guard(conv: cattrs.Converter, cl: Any, kind: type, what: str) -> None:
    """Check the container's own type first: cattrs would iterate a string."""
    structure = conv.get_structure_hook(cl)

    def checked(value: Any, _: Any) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected {what}, got {json_type(value)}")
        return structure(value, cl)

    conv.register_structure_hook_func(lambda t: t == cl, checked)


CONVERTER = _converter()
_BRACKETS = re.compile(r"\['((?:[^'\\]|\\.)*)'\]")


def structure_entry(path: str, entry: Any, cl: type[ArgoEntry | JobsEntry]) -> Any:
    """``entry`` as ``cl``; ``ValueError`` lists every problem as ``$.a.b: message``."""
    try:
        return CONVERTER.structure(entry, cl)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        raise ValueError(describe(exc, path)) from None


def describe(exc: BaseException, path: str) -> str:
    if not isinstance(exc, cattrs.BaseValidationError):
        return f"{path}: {exc}"
    problems = cattrs.transform_error(exc, path=path, format_exception=lambda e, _: str(e))
    out = []
    for problem in problems:
        message, _, where = problem.rpartition(" @ ")
        # Object keys read as JSON paths: $.metadata.nodeSelector.pool, not ['pool'].
        out.append(f"{_BRACKETS.sub(lambda m: '.' + m.group(1), where)}: {message}")
    return "; ".join(out)
