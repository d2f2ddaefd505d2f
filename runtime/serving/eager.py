"""Finishing a coroutine that was started by hand.

``await coro`` runs ``coro`` at once up to its first real wait; ``first_step(coro)`` does the
same but lets the caller see whether it waited at all. The dispatcher uses this so that a handler
that finishes without waiting (``status``) needs no timer, and a request that is answered at
once no in-flight entry. When the coroutine does wait, ``Resume`` hands it, at the point where
it stopped, to whatever awaits next (inside an ``async with asyncio.timeout_at``, say), exactly
as ``await coro`` would have: every value, result and exception passes through unchanged.

Only for use inside the task that would have awaited the coroutine anyway: the first step runs
in that task (its ``current_task()``, its context variables), as it would under ``await``.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Resume(Generic[T]):
    """``await Resume(coro, yielded)``: the rest of ``coro`` after a ``send`` that yielded
    ``yielded`` (the future it waits on); what the awaiting task sends or throws goes to it."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, T], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, T]:
        coro, yielded = self._coro, self._yielded
        self._yielded = None
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # CancelledError and anything else thrown in
                try:
                    yielded = coro.throw(exc)
                except StopIteration as done:
                    result: T = done.value
                    return result
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result


def first_step(coro: Coroutine[Any, Any, T]) -> T | Resume[T]:
    """Run ``coro`` up to its first wait: its result if it finished there, else a ``Resume``
    to await for the rest."""
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    return Resume(coro, waiting_on)
