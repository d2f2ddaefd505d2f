"""The route table gives every request type exactly one handler."""

from __future__ import annotations

import pytest

from handlers.routes import ROUTES
from runtime.serving.router import RouteError, Router
from runtime.wire.messages import REQUEST_TYPES, Kill, Status


def test_every_message_type_has_exactly_one_handler() -> None:
    router = Router(ROUTES)
    assert set(ROUTES) == set(REQUEST_TYPES)
    assert sorted(router.capabilities) == sorted(cl.TYPE for cl in REQUEST_TYPES)
    for request_type in REQUEST_TYPES:
        handler, _ = router.lookup(request_type)
        assert callable(handler)


def test_a_missing_handler_is_refused_at_start_up() -> None:
    table = {k: v for k, v in ROUTES.items() if k is not Kill}
    with pytest.raises(RouteError, match="kill"):
        Router(table)


def test_an_unknown_message_class_is_refused() -> None:
    class Extra(Status):
        TYPE = "extra"

    with pytest.raises(RouteError, match="Extra"):
        Router({**ROUTES, Extra: ROUTES[Status]})


def test_status_runs_on_the_event_loop_and_launches_in_threads() -> None:
    router = Router(ROUTES)
    assert router.lookup(Status)[1] is True
    assert router.lookup(Kill)[1] is False
