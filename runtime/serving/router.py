"""The explicit table from message class to handler, checked to be complete at start-up.

The table itself lives with the handlers (``handlers/routes.py``) so the runtime never imports
business logic; the composition root passes it here.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from runtime.wire.messages import REQUEST_TYPES, Request

Handler = Callable[[Any, Any], Any] | Callable[[Any, Any], Awaitable[Any]]


class RouteError(Exception):
    """The route table does not give every request type exactly one handler."""


class Router:
    def __init__(
        self,
        table: Mapping[type[Request], Handler],
        request_types: tuple[type[Request], ...] = REQUEST_TYPES,
    ) -> None:
        missing = [cl.TYPE for cl in request_types if cl not in table]
        extra = [cl.__name__ for cl in table if cl not in request_types]
        if missing or extra:
            raise RouteError(f"route table mismatch: no handler for {missing}, unknown {extra}")
        tags = [cl.TYPE for cl in table]
        if len(set(tags)) != len(tags):
            raise RouteError(f"two message classes share a wire tag: {sorted(tags)}")
        self._table = dict(table)
        self._is_async = {cl: inspect.iscoroutinefunction(h) for cl, h in table.items()}

    def lookup(self, request_type: type[Request]) -> tuple[Handler, bool]:
        """The handler for a request class and whether it is a coroutine function."""
        return self._table[request_type], self._is_async[request_type]

    @property
    def capabilities(self) -> list[str]:
        """Wire tags this runner answers, announced in ``hello``."""
        return [cl.TYPE for cl in self._table]
