"""logs: byte-offset chunks across several calls until the end, for both Kubernetes executors
(pod logs read from the HTTP fake of the API server) and the local executor; the reply stays far
below the frame limit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from handlers import logs
from runtime.devkit.demo import STAND_IN
from runtime.executors.base import LOG_CHUNK_BYTES, LaunchSpec
from runtime.wire import codec
from runtime.wire.errors import InvalidMessage, NotFound
from runtime.wire.messages import Logs, LogsResult, Reply
from tests.handlers.support import KINDS, Kube, kube, local_context, with_status
from tests.runtime.executors.k8s_support import make_spec

TEXT = "".join(f"{i:05d} ingestion step · ünïcödé → €\n" for i in range(600))  # ~26 KB


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param, log_chunk_bytes=4096)


def started(k: Kube, state: str) -> LaunchSpec:
    spec = make_spec()
    k.executor.tracker.workload_event(
        "ADDED", with_status(k.kind, k.executor.render(spec)[0], state)
    )
    pod = {
        "metadata": {
            "name": spec.run_name + "-pod",
            "annotations": {"hybrid-runner.io/run-id": spec.run_id},
        },
        "status": {"phase": "Running"},
    }
    k.executor.tracker.pod_event("ADDED", pod)
    k.pod_log(spec.run_name + "-pod", TEXT)
    return spec


def read_all(ctx: object, run_id: str, after: str | None = None) -> tuple[list[LogsResult], str]:
    replies: list[LogsResult] = []
    while True:
        reply = logs.handle(Logs(id="l", run_id=run_id, after=after), ctx)  # type: ignore[arg-type]
        replies.append(reply)
        if reply.after is None or reply.after == after:
            return replies, "".join(r.content for r in replies)
        after = reply.after


def test_chunks_follow_each_other_until_the_end_of_a_finished_run(k: Kube) -> None:
    spec = started(k, "success")
    replies, text = read_all(k.ctx, spec.run_id)
    size = len(TEXT.encode())
    assert text == TEXT  # no character split at a chunk boundary, nothing lost or repeated
    assert len(replies) == -(-size // 4096) or len(replies) == -(-size // 4096) + 1
    assert all(len(r.content.encode()) <= 4096 for r in replies)
    assert all(r.total == size for r in replies)
    assert [r.after for r in replies[:2]] == [
        str(len(replies[0].content.encode())),
        replies[1].after,
    ]
    assert replies[-1].after is None
    assert "after" not in codec.unstructure(replies[-1])
    read = k.server.log_reads()[-1]
    assert read.query["container"] == "main"
    assert read.path.endswith(f"/pods/{spec.run_name}-pod/log")


def test_a_running_run_keeps_a_cursor_until_it_is_final(k: Kube) -> None:
    spec = started(k, "running")
    replies, text = read_all(k.ctx, spec.run_id)
    assert text == TEXT
    end = replies[-1].after
    assert end == str(len(TEXT.encode()))  # the end so far: poll again from here
    k.pod_log(spec.run_name + "-pod", TEXT + "done\n")
    more = logs.handle(Logs(id="l", run_id=spec.run_id, after=end), k.ctx)
    assert (more.content, more.after) == ("done\n", str(len(TEXT.encode()) + 5))
    k.executor.tracker.workload_event(
        "MODIFIED", with_status(k.kind, k.executor.render(spec)[0], "success")
    )
    last = logs.handle(Logs(id="l", run_id=spec.run_id, after=more.after), k.ctx)
    assert (last.content, last.after) == ("", None)


def test_a_run_whose_pod_is_gone_serves_the_captured_tail(k: Kube) -> None:
    spec = started(k, "success")
    assert k.executor.table.get(spec.run_id) is not None
    tracker = k.executor.tracker
    tracker._update(spec.run_id, log_tail="last words\n")
    pod = {
        "metadata": {
            "name": spec.run_name + "-pod",
            "annotations": {"hybrid-runner.io/run-id": spec.run_id},
        },
        "status": {"phase": "Succeeded"},
    }
    k.executor.tracker.pod_event("DELETED", pod)
    reply = logs.handle(Logs(id="l", run_id=spec.run_id), k.ctx)
    assert (reply.content, reply.after, reply.total) == ("last words\n", None, 11)


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "0x10", " 1", "9" * 40])
def test_a_malformed_cursor_is_invalid_message_naming_after(after: str) -> None:
    k = kube("argo")
    spec = started(k, "success")
    with pytest.raises(InvalidMessage, match=r"^\$\.after: "):
        logs.handle(Logs(id="l", run_id=spec.run_id, after=after), k.ctx)


def test_an_unknown_run_is_not_found(k: Kube) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        logs.handle(Logs(id="l", run_id="nope"), k.ctx)


def test_a_full_chunk_reply_stays_far_below_the_frame_limit() -> None:
    k = kube("simpleK8s")
    spec = started(k, "success")
    # The worst case for JSON: control characters, each escaped as six bytes.
    k.pod_log(spec.run_name + "-pod", "\x01" * (LOG_CHUNK_BYTES * 3))
    reply = logs.handle(Logs(id="l", run_id=spec.run_id), k.ctx)
    assert len(reply.content) == LOG_CHUNK_BYTES
    frame = codec.encode(Reply(id="l", ok=True, result=reply))
    assert len(frame.encode()) < k.ctx.settings.max_frame_bytes / 8
    assert json.loads(frame)["result"]["after"] == str(LOG_CHUNK_BYTES)


async def test_local_run_output_in_chunks(tmp_path: Path) -> None:
    ctx, executor = local_context(
        tmp_path, LOCAL_PIPELINE_COMMAND=STAND_IN, SECRETS_PREFLIGHT="false"
    )
    executor.log_chunk_bytes = 1000
    await executor.start()
    try:
        spec = make_spec(config={"standIn": {"seconds": 0, "lines": 300}})
        await asyncio.to_thread(executor.launch, spec)
        for _ in range(500):
            record = executor.table.get(spec.run_id)
            if record is not None and record.final:
                break
            await asyncio.sleep(0.02)
        replies, text = await asyncio.to_thread(read_all, ctx, spec.run_id)
    finally:
        await executor.stop()
    assert len(replies) > 5
    assert "stand-in: step 300/300" in text and text.endswith("exiting with 0\n")
    assert replies[-1].after is None
    assert replies[-1].total == len(text.encode())
