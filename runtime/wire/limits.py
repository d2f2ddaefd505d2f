"""Bounds on what one request frame may hold, checked when the frame is decoded.

A frame within ``MAX_FRAME_BYTES`` can still hold values that break the runner later, after
something was recorded or while a reply is being written: an id of megabytes (kept in the
reply cache), nesting deep enough for ``RecursionError`` in recursive code downstream, a string
with a lone surrogate (it has no UTF-8 form, so it cannot go into a process environment, a
Kubernetes object or back onto the wire), an integer longer than Python converts. The codec
refuses them here as ``invalid_message`` naming the field, before any handler runs
(docs/protocol.md, "Limits").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any

# A request id is a correlation key, not data: 256 characters hold any UUID or ULID scheme
# with room to spare, and bound what the reply cache keeps per request.
MAX_ID_LENGTH = 256
# The frame itself is level 1. OpenMetadata workflow configs nest about ten levels; 64 leaves
# room for any real config and stays far below Python's recursion limit in recursive walkers.
MAX_DEPTH = 64
# Python refuses to convert longer digit strings (CVE-2020-10735); the decoder uses the same.
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300


class HugeInt:
    """A JSON integer too long to convert: kept as its length, refused if a known field holds
    it, and otherwise ignored like any unknown member."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def parse_int(text: str) -> int | HugeInt:
    """``json.loads``'s ``parse_int``: an int, or a ``HugeInt`` instead of a ``ValueError``
    that would lose the whole frame, its id included."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return HugeInt(digits)
    return int(text)


class _TooDeep:
    """Where ``shallow`` cut a container nested deeper than ``MAX_DEPTH``."""


TOO_DEEP = _TooDeep()
# A JSON string (skipped whole: brackets inside it are text), or a run of opening or of closing
# brackets (one token for "[[[[...", so a frame of brackets costs one step per run).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]+|[\]}]+')


def shallow(text: str) -> str:
    """``text`` with each container nested deeper than ``MAX_DEPTH`` replaced by ``NaN``.

    A frame too deep for the parser's recursion (about 1,000 levels) is still valid JSON with
    an id; cut this way it parses, the id is read, and ``parse_constant`` turns each ``NaN``
    into ``TOO_DEEP``, refused by ``first_problem`` like any over-deep value."""
    limit = MAX_DEPTH + 1  # the depth of the containers that are cut
    pieces, depth, cut_at, kept = [], 0, -1, 0
    for match in _TOKENS.finditer(text):
        token, start = match.group(), match.start()
        if token[0] == '"':
            continue
        if token[0] in "[{":
            if depth < limit <= depth + len(token):
                cut_at = start + (limit - depth - 1)
            depth += len(token)
        else:
            if depth >= limit > depth - len(token) and cut_at >= 0:
                pieces += [text[kept:cut_at], "NaN"]
                kept, cut_at = start + (depth - limit) + 1, -1
            depth -= len(token)
    pieces.append(text[kept:])
    return "".join(pieces)


def parse_constant(name: str) -> float | _TooDeep:
    """``parse_constant`` for a text cut by ``shallow``."""
    return TOO_DEEP if name == "NaN" else float(name)


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a code point in U+D800..U+DFFF (no UTF-8 form)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    safe = key if not has_lone_surrogate(key) else key.encode("utf-8", "backslashreplace").decode()
    return f"{path}[{safe[:40]!r}]"


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str) and has_lone_surrogate(value):
        return "contains a lone surrogate (U+D800..U+DFFF), which has no UTF-8 form"
    if isinstance(value, HugeInt):
        return f"an integer of {value.digits} digits (at most {MAX_INT_DIGITS})"
    if value is TOO_DEEP:
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def first_problem(data: dict[str, Any], members: Iterable[str]) -> str | None:
    """The first bad value among ``members`` of the frame as ``"$.path: what"``, or None.

    Iterative, so that depth itself cannot overflow the stack while it is being measured.
    """
    stack: list[tuple[Any, str, int]] = [
        (data[name], _child("$", name), 2) for name in members if name in data
    ]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"{path}: nested deeper than {MAX_DEPTH} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and has_lone_surrogate(key):
                    return f"{path}: a member name contains a lone surrogate (U+D800..U+DFFF)"
                stack.append((item, _child(path, key), depth + 1))
            continue
        problem = _scalar_problem(value)
        if problem is not None:
            return f"{path}: {problem}"
    return None
