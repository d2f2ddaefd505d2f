"""The dispatcher: one reply per id, dedup, time limits, concurrency bound, errors mapped."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from runtime.composition import build_context
from runtime.serving.context import Context
from runtime.serving.dispatch import Dispatcher, ReplyCache
from runtime.serving.router import Router
from runtime.settings import Settings
from runtime.wire import codec
from runtime.wire.errors import ExecutorUnavailable, NotFound
from runtime.wire.messages import REQUEST_TYPES, Kill, Reply, Status


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def bump(self) -> None:
        with self.lock:
            self.count += 1


def make(tmp_path: Path, table: dict[Any, Any], **kwargs: Any) -> Dispatcher:
    settings = Settings.from_env({"STATE_DIR": str(tmp_path)})
    context, _ = build_context(settings, registry=CollectorRegistry())
    full: dict[Any, Any] = {cl: table.get(cl, table.get("default")) for cl in REQUEST_TYPES}
    options: dict[str, Any] = {"max_concurrent": 4, "threads": 4, "timeout": 5.0, "cache_size": 100}
    options.update(kwargs)
    return Dispatcher(Router(full), context, metrics=context.metrics, **options)


async def test_a_resent_id_gets_the_cached_reply_without_a_second_call(tmp_path: Path) -> None:
    calls = Calls()

    def handler(msg: Kill, ctx: Context) -> dict[str, str]:
        calls.bump()
        return {"n": str(calls.count)}

    dispatcher = make(tmp_path, {"default": handler})
    first = await dispatcher.dispatch(Kill(id="same", run_id="r"))
    second = await dispatcher.dispatch(Kill(id="same", run_id="r"))
    assert first == second == Reply(id="same", ok=True, result={"n": "1"})
    assert calls.count == 1


async def test_a_twin_arriving_while_the_first_runs_waits_for_it(tmp_path: Path) -> None:
    calls = Calls()

    def slow(msg: Kill, ctx: Context) -> str:
        calls.bump()
        time.sleep(0.3)
        return "done"

    dispatcher = make(tmp_path, {"default": slow})
    replies = await asyncio.gather(
        *(dispatcher.dispatch(Kill(id="t", run_id="r")) for _ in range(5))
    )
    assert {r.result for r in replies} == {"done"}
    assert calls.count == 1


async def test_retryable_errors_are_not_cached(tmp_path: Path) -> None:
    calls = Calls()

    def flaky(msg: Kill, ctx: Context) -> str:
        calls.bump()
        if calls.count == 1:
            raise ExecutorUnavailable("API server unreachable")
        return "ok"

    dispatcher = make(tmp_path, {"default": flaky})
    first = await dispatcher.dispatch(Kill(id="f", run_id="r"))
    assert first.error is not None
    assert (first.error.code, first.error.retryable) == ("executor_unavailable", True)
    second = await dispatcher.dispatch(Kill(id="f", run_id="r"))
    assert second.ok is True


async def test_final_errors_are_cached(tmp_path: Path) -> None:
    calls = Calls()

    def missing(msg: Kill, ctx: Context) -> str:
        calls.bump()
        raise NotFound("no such run")

    dispatcher = make(tmp_path, {"default": missing})
    for _ in range(3):
        reply = await dispatcher.dispatch(Kill(id="m", run_id="r"))
        assert reply.error is not None and reply.error.code == "not_found"
    assert calls.count == 1


async def test_a_slow_handler_times_out_with_a_retryable_error(tmp_path: Path) -> None:
    async def never(msg: Status, ctx: Context) -> str:
        await asyncio.sleep(10)
        return "late"

    dispatcher = make(tmp_path, {"default": never}, timeout=0.2)
    started = time.monotonic()
    reply = await dispatcher.dispatch(Status(id="slow"))
    assert time.monotonic() - started < 2
    assert reply.error is not None
    assert (reply.error.code, reply.error.retryable) == ("timeout", True)


async def test_unexpected_exceptions_become_internal_error_without_their_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(msg: Kill, ctx: Context) -> str:
        raise ValueError("password=hunter2hunter2 in a URL")

    dispatcher = make(tmp_path, {"default": broken})
    reply = await dispatcher.dispatch(Kill(id="b", run_id="r"))
    assert reply.error is not None
    assert reply.error.code == "internal_error"
    assert "ValueError" in reply.error.message
    assert "hunter2" not in codec.encode(reply)
    assert any(r.exc_info for r in caplog.records)


async def test_concurrency_is_bounded(tmp_path: Path) -> None:
    running = 0
    peak = 0

    async def busy(msg: Status, ctx: Context) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return "ok"

    dispatcher = make(tmp_path, {"default": busy}, max_concurrent=2)
    replies = await asyncio.gather(*(dispatcher.dispatch(Status(id=str(i))) for i in range(8)))
    assert all(r.ok for r in replies)
    assert peak == 2


async def test_sync_handlers_run_off_the_event_loop(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def where(msg: Kill, ctx: Context) -> str:
        seen.append(threading.get_ident())
        return "ok"

    dispatcher = make(tmp_path, {"default": where})
    await dispatcher.dispatch(Kill(id="w", run_id="r"))
    assert seen and seen[0] != loop_thread


async def test_after_stop_accepting_new_requests_are_refused_retryably(tmp_path: Path) -> None:
    dispatcher = make(tmp_path, {"default": lambda msg, ctx: "ok"})
    dispatcher.stop_accepting()
    reply = await dispatcher.dispatch(Kill(id="late", run_id="r"))
    assert reply.error is not None
    assert (reply.error.code, reply.error.retryable) == ("shutting_down", True)


async def test_drain_waits_for_in_flight_requests(tmp_path: Path) -> None:
    def slow(msg: Kill, ctx: Context) -> str:
        time.sleep(0.3)
        return "finished"

    dispatcher = make(tmp_path, {"default": slow})
    pending = asyncio.ensure_future(dispatcher.dispatch(Kill(id="d", run_id="r")))
    await asyncio.sleep(0.05)
    dispatcher.stop_accepting()
    assert await dispatcher.drain(5) is True
    assert (await pending).result == "finished"


async def test_handle_frame_never_raises(tmp_path: Path) -> None:
    dispatcher = make(tmp_path, {"default": lambda msg, ctx: "ok"})
    for frame in ["", "null", "{", '{"type": "kill", "id": "x", "runId": 1}', "\x00"]:
        reply = await dispatcher.handle_frame(frame)
        assert reply.ok is False


def test_reply_cache_is_bounded_lru() -> None:
    cache = ReplyCache(2)
    for key in ("a", "b"):
        cache.put(key, Reply(id=key, ok=True))
    assert cache.get("a") is not None
    cache.put("c", Reply(id="c", ok=True))
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert len(cache) == 2


def test_reply_cache_is_bounded_in_bytes_whatever_the_count() -> None:
    cache = ReplyCache(4096, max_bytes=1_000_000)
    for n in range(100):
        cache.put(f"log-{n}", Reply(id=f"log-{n}", ok=True, result={"content": "x" * 65536}))
    assert cache.bytes <= 1_000_000
    assert 10 <= len(cache) <= 15  # the newest ones that fit, not 100
    assert cache.get("log-99") is not None and cache.get("log-0") is None
    # A reply larger than a quarter of the budget is answered but never kept.
    cache.put("huge", Reply(id="huge", ok=True, result="y" * 300_000))
    assert cache.get("huge") is None and cache.get("log-99") is not None


async def test_a_reply_that_cannot_be_encoded_is_answered_internal_error_once(
    tmp_path: Path,
) -> None:
    dispatcher = make(tmp_path, {"default": lambda msg, ctx: {"when": object()}})
    reply = await dispatcher.handle_frame('{"type": "kill", "id": "enc", "runId": "r"}')
    frame = json.loads(dispatcher.frame_for(reply))
    assert frame["id"] == "enc"
    assert frame["error"]["code"] == "internal_error"
    assert "TypeError" in frame["error"]["message"]
    again = await dispatcher.handle_frame('{"type": "kill", "id": "enc", "runId": "r"}')
    assert dispatcher.frame_for(again) == dispatcher.frame_for(reply)


async def test_an_async_handler_that_waits_has_its_twins_wait_for_it(tmp_path: Path) -> None:
    calls = Calls()
    release = asyncio.Event()

    async def waits(msg: Status, ctx: Context) -> str:
        calls.bump()
        await release.wait()
        return "released"

    dispatcher = make(tmp_path, {"default": waits})
    first = asyncio.ensure_future(dispatcher.dispatch(Status(id="w")))
    await asyncio.sleep(0)
    assert dispatcher.in_flight == 1
    twin = asyncio.ensure_future(dispatcher.dispatch(Status(id="w")))
    await asyncio.sleep(0)
    release.set()
    assert (await first).result == (await twin).result == "released"
    assert calls.count == 1
    assert dispatcher.in_flight == 0


async def test_an_async_handler_that_does_not_wait_is_answered_cached_and_counted(
    tmp_path: Path,
) -> None:
    calls = Calls()

    async def at_once(msg: Status, ctx: Context) -> dict[str, str | None]:
        calls.bump()
        extra: Any = ctx.logger.extra
        return {"request": extra.get("request_id")}

    async def missing(msg: Kill, ctx: Context) -> str:
        raise NotFound("no such run")

    dispatcher = make(tmp_path, {"default": at_once, Kill: missing})
    first = await dispatcher.dispatch(Status(id="s"))
    assert first == Reply(id="s", ok=True, result={"request": "s"})
    assert await dispatcher.dispatch(Status(id="s")) == first
    assert calls.count == 1
    not_found = await dispatcher.dispatch(Kill(id="k", run_id="r"))
    assert not_found.error is not None and not_found.error.code == "not_found"
    sample = dispatcher.metrics.registry.get_sample_value
    for kind, outcome in [("status", "ok"), ("status", "duplicate"), ("kill", "not_found")]:
        assert sample("hybrid_runner_messages_total", {"type": kind, "outcome": outcome}) == 1
    latency = "collate_hybrid_agent_server_response_time_seconds_count"
    assert sample(latency, {"type": "status"}) == 1


async def test_an_async_handler_that_waits_after_a_first_step_still_times_out(
    tmp_path: Path,
) -> None:
    async def busy_then_stuck(msg: Status, ctx: Context) -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(10)
        return "late"

    dispatcher = make(tmp_path, {"default": busy_then_stuck}, timeout=0.2)
    reply = await dispatcher.dispatch(Status(id="stuck"))
    assert reply.error is not None
    assert (reply.error.code, reply.error.retryable) == ("timeout", True)
    assert dispatcher.in_flight == 0
