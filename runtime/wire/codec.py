"""JSON <-> message classes, through one private cattrs converter.

Wire names are camelCase, Python names snake_case; the tag of every frame is ``type``. Scalars
are structured strictly (a number is not a string) so a wrong type is reported, not coerced.
Every way a frame can be wrong becomes a ``FrameError`` carrying the error code, the request id
when one could be read, and the offending field's wire path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Union

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_tagged_union

from runtime.wire import limits
from runtime.wire.errors import InvalidMessage, RunnerError, UnknownMessageType
from runtime.wire.messages import REQUEST_TYPES, RUNNER_FRAME_TYPES, Request, Welcome

_CAMEL = re.compile(r"_([a-z])")


def wire_name(field_name: str) -> str:
    """``pipeline_fqn`` -> ``pipelineFqn``."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), field_name)


class FrameError(RunnerError):
    """A frame that cannot be turned into a message; the reply carries ``code``."""

    def __init__(self, error: RunnerError, request_id: str | None) -> None:
        super().__init__(error.message, retryable=False)
        self.code = error.code
        self.request_id = request_id


def _strict(kind: type, label: str) -> Callable[[Any, type], Any]:
    def structure(value: Any, _type: type) -> Any:
        # bool is an int subclass; a JSON true is never a valid number here.
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {label}, got boolean")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"expected {label}, got {_json_type(value)}")
        return value

    return structure


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | limits.HugeInt):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _JsonFloat(float):
    """A float that ``encode`` leaves to ``json`` (orjson refuses float subclasses)."""

    __slots__ = ()


def _float_out(value: float) -> float:
    # orjson writes every float in [1e-4, 1e16) as json does (repr); outside that range it
    # writes exponents differently (1e-05 as 0.00001, 1e-07 as 1e-7) and NaN/Infinity as null.
    # Those floats are marked, so that the frames holding them are written by json as before.
    # (An int in a float field stays an int; orjson refuses float subclasses by itself.)
    if type(value) is not float or value == 0.0 or 1e-4 <= abs(value) < 1e16:
        return value
    return _JsonFloat(value)


def _tag(cl: type) -> str:
    tag: str = cl.TYPE  # type: ignore[attr-defined]
    return tag


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))

    def dict_any(value: Any, _type: type) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {_json_type(value)}")
        return value

    conv.register_structure_hook_func(lambda t: t == dict[str, Any], dict_any)

    def structure_factory(cl: type) -> Any:
        renames: dict[str, Any] = {
            a.name: override(rename=wire_name(a.name))
            for a in attrs.fields(cl)
            if wire_name(a.name) != a.name
        }
        return make_dict_structure_fn(cl, conv, **renames)

    def unstructure_factory(cl: type) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=wire_name(a.name), omit_if_default=a.default is None)
            for a in attrs.fields(cl)
        }
        return make_dict_unstructure_fn(cl, conv, **overrides)

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook(float, _float_out)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)

    # Wire tags come from each class's TYPE; the union strategy writes and reads "type".
    configure_tagged_union(
        Union[REQUEST_TYPES],  # noqa: UP007
        conv,
        tag_generator=_tag,
        tag_name="type",
    )
    configure_tagged_union(
        Union[RUNNER_FRAME_TYPES],  # noqa: UP007
        conv,
        tag_generator=_tag,
        tag_name="type",
    )
    return conv


_converter = _build_converter()
_RUNNER_UNION: Any = Union[RUNNER_FRAME_TYPES]  # noqa: UP007
# What the request union's hook (cattrs.strategies.configure_tagged_union) calls once it has
# read the tag: the class's own hook, with the whole object. decode_request reads the tag
# itself and calls these directly, skipping the dispatch on the Union (which hashes it).
_REQUEST_HOOKS = {_tag(cl): (cl, _converter.get_structure_hook(cl)) for cl in REQUEST_TYPES}
_RUNNER_TAGS = {_tag(cl): cl for cl in RUNNER_FRAME_TYPES}
_REQUEST_MEMBERS = {
    _tag(cl): ("type", *(wire_name(a.name) for a in attrs.fields(cl))) for cl in REQUEST_TYPES
}


# orjson writes what json writes for the JSON-ready data cattrs produces (str keys, str, int
# up to 64 bits, float as above, bool, None, list, tuple, dict), but it also writes types json
# refuses (dataclasses, datetimes, subclasses of str/int/dict/list via their base): those are
# passed through to the fallback, so json raises for them as it always did.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _dumps(data: Any) -> str:
    """``json.dumps(data, separators=(",", ":"), ensure_ascii=False)``, through orjson when
    orjson writes the same text (see ``_float_out``), else through json itself."""
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits, non-str keys, lone surrogates, marked floats, other types.
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if limits.has_lone_surrogate(text):
        # A lone surrogate (an id echoed as the server wrote it) has no UTF-8 form, so the
        # frame could not be sent: escaped, it is valid JSON that reads back as the same string.
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text


def unstructure(obj: Any) -> Any:
    """A message or result as plain JSON-ready data (camelCase keys)."""
    return _converter.unstructure(obj)


def encode(message: Any) -> str:
    """One frame as JSON text, with its ``type`` tag."""
    data = _converter.unstructure(message)
    tag = getattr(type(message), "TYPE", "")
    if tag:
        data = {"type": tag, **data}
    return _dumps(data)


# orjson reads a frame as json does, except: integers of 19 digits or more (orjson makes some
# of them floats), nesting deeper than json's recursion limit (orjson allows 1024 levels), and
# documents json accepts and orjson refuses (NaN, Infinity, lone surrogate escapes, bytes in
# other encodings). Frames with long digit runs or many brackets, and bytes, go to json
# directly; everything orjson refuses goes to json too, which accepts it or raises the error
# it always raised. json reads over-long integers as ``limits.HugeInt`` instead of failing.
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_ORJSON_MAX_BRACKETS = 200


def _loads(text: str | bytes) -> tuple[Any, bool]:
    """The parsed frame, and whether it may hold what ``limits`` refuses (then it is checked).

    What orjson accepts has no lone surrogate and no over-long integer, and a frame with no
    more brackets than ``MAX_DEPTH`` cannot nest deeper: only the rest needs the walk."""
    if isinstance(text, str):
        brackets = text.count("{") + text.count("[")
        if brackets <= _ORJSON_MAX_BRACKETS and _LONG_DIGITS.search(text) is None:
            try:
                return orjson.loads(text), brackets > limits.MAX_DEPTH
            except orjson.JSONDecodeError:
                pass
    try:
        return json.loads(text, parse_int=limits.parse_int), True
    except RecursionError:
        if not isinstance(text, str):
            raise
        # Deeper than the parser recurses: cut below the depth limit, so that the id can still
        # be read. A text that is not JSON once cut was not JSON before: the first error stands.
        try:
            cut = limits.shallow(text)
            constant = limits.parse_constant
            return json.loads(cut, parse_int=limits.parse_int, parse_constant=constant), True
        except ValueError:
            pass
        raise


def _load_object(text: str | bytes) -> tuple[dict[str, Any], bool]:
    try:
        data, unchecked = _loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and bad UTF-8 in bytes.
        raise FrameError(InvalidMessage(f"frame is not valid JSON: {exc}"), None) from None
    if not isinstance(data, dict):
        raise FrameError(
            InvalidMessage(f"frame must be a JSON object, got {_json_type(data)}"), None
        )
    return data, unchecked


def _read_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    return value if isinstance(value, str) and value.strip() else None


def _structure(
    data: dict[str, Any],
    cl: Any,
    request_id: str | None,
    hook: Callable[[Any, Any], Any] | None = None,
) -> Any:
    try:
        if hook is not None:
            return hook(data, cl)
        return _converter.structure(data, cl)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise FrameError(InvalidMessage(describe_structure_error(exc)), request_id) from None


def describe_structure_error(exc: BaseException) -> str:
    """One line naming every bad field by its wire path (``$.runId: expected a string``)."""
    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc, path="$", format_exception=_format_exception)
        return "; ".join(_wire_path(problem) for problem in problems)
    return str(exc)


_PROBLEM = re.compile(r"^(?P<msg>.*) @ (?P<path>\$\S*)$", re.DOTALL)


def _wire_path(problem: str) -> str:
    """cattrs says ``msg @ $.run_id``; the wire says ``$.runId: msg``."""
    match = _PROBLEM.match(problem)
    if not match:
        return problem
    path = re.sub(r"\.(\w+)", lambda m: "." + wire_name(m.group(1)), match.group("path"))
    return f"{path}: {match.group('msg')}"


def _format_exception(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or type(exc).__name__


def decode_request(text: str | bytes) -> Request:
    """A server frame as a Request, or ``FrameError`` (invalid_message / unknown_message_type)."""
    data, unchecked = _load_object(text)
    request_id = _read_id(data)
    tag = data.get("type")
    if not isinstance(tag, str):
        raise FrameError(InvalidMessage("$.type: required string field missing"), request_id)
    known = _REQUEST_HOOKS.get(tag)
    if known is None:
        raise FrameError(UnknownMessageType(f"unknown message type {tag!r}"), request_id)
    if request_id is None:
        raise FrameError(InvalidMessage("$.id: required non-empty string"), None)
    if len(request_id) > limits.MAX_ID_LENGTH:
        raise FrameError(
            InvalidMessage(f"$.id: longer than {limits.MAX_ID_LENGTH} characters"), request_id
        )
    cl, hook = known
    if unchecked:
        # Only the members the request knows: unknown members are ignored, whatever they hold.
        problem = limits.first_problem(data, _REQUEST_MEMBERS[tag])
        if problem is not None:
            raise FrameError(InvalidMessage(problem), request_id)
    request: Request = _structure(data, cl, request_id, hook)
    return request


def decode_welcome(text: str | bytes) -> Welcome:
    data, _ = _load_object(text)
    if data.get("type") != Welcome.TYPE:
        raise FrameError(
            InvalidMessage(f"expected a welcome frame, got type {data.get('type')!r}"), None
        )
    welcome: Welcome = _structure(data, Welcome, None)
    return welcome


def decode_runner_frame(text: str | bytes) -> Any:
    """What the reference server reads: hello, reply, heartbeat or run_update."""
    data, _ = _load_object(text)
    tag = data.get("type")
    if tag not in _RUNNER_TAGS:
        raise FrameError(UnknownMessageType(f"unknown runner frame type {tag!r}"), None)
    return _structure(data, _RUNNER_UNION, None)


def structure(data: Any, cl: type[Any]) -> Any:
    """Structure plain data into ``cl`` with the wire conventions (used by tests and tools)."""
    return _converter.structure(data, cl)
