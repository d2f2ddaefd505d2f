"""The real runner against the reference server over real websockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.devkit.reference_server import ReferenceServer
from runtime.wire.messages import REQUEST_TYPES
from tests.conftest import (
    AGENT,
    MakeRunner,
    free_port,
    http_get,
    metric_value,
    runner_env,
    sample,
    server_token,
    wait_for,
)


async def test_handshake_registers_the_runner_as_active(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    agent = await server.wait_active(AGENT)
    assert agent.executor == "local"
    assert sorted(agent.capabilities) == sorted(cl.TYPE for cl in REQUEST_TYPES)
    assert runner.context.runner.server_version == server.server_version
    agents = [a["status"] for a in [agent.summary()]]
    assert agents == ["Active"]


async def test_each_message_type_round_trips(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    launch = sample("run_pipeline.json")
    launch["config"]["standIn"] = {"seconds": 30}
    reply = await server.request(AGENT, launch)
    assert reply == {
        "type": "reply",
        "id": launch["id"],
        "ok": True,
        "result": {
            "runId": launch["runId"],
            "runName": reply["result"]["runName"],
            "state": "queued",
        },
    }
    assert reply["result"]["runName"].startswith("om-3f1c8f5e-")

    check = await server.request(AGENT, sample("test_connection.json"))
    assert check["ok"] is True
    assert check["result"]["state"] == "queued"

    status = await server.request(AGENT, sample("status_run.json"))
    assert status["ok"] is True
    assert status["result"]["runs"][0]["pipelineFqn"] == launch["pipelineFqn"]
    assert status["result"]["runs"][0]["state"] in ("queued", "running")

    by_pipeline = await server.request(AGENT, sample("status_pipeline.json"))
    assert [r["runId"] for r in by_pipeline["result"]["runs"]] == [launch["runId"]]

    killed = await server.request(AGENT, sample("kill.json"))
    assert killed["ok"] is True
    assert killed["result"]["runs"][0]["state"] == "stopped"

    again = await server.request(AGENT, {**sample("kill.json"), "id": "kill-again"})
    assert again["result"]["runs"][0]["state"] == "stopped"

    unknown = await server.request(AGENT, {"type": "kill", "runId": "no-such-run"})
    assert unknown["ok"] is False
    assert unknown["error"]["code"] == "not_found"

    agent_status = await server.request(AGENT, sample("status.json"))
    result = agent_status["result"]
    assert result["agentId"] == AGENT
    assert result["connected"] is True
    assert result["trackedRuns"] == 2
    assert result["reachability"] == {"stateDir": "ok"}


async def test_run_updates_report_every_state_change(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    frame = {**sample("run_pipeline.json"), "config": {"standIn": {"seconds": 0.2}}}
    await server.request(AGENT, frame)
    await server.wait_event(AGENT, lambda e: e["type"] == "run_update" and e["state"] == "success")
    states = [e["state"] for e in server.events(AGENT, "run_update")]
    assert states == ["queued", "running", "success"]
    final = server.events(AGENT, "run_update")[-1]
    assert final["pipelineType"] == "metadata"
    assert final["endDate"] >= final["startDate"]


async def test_logs_of_a_local_run_page_through_the_wire_until_the_end(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    # About 100 KB of output: more than one 64 KiB chunk.
    frame = {**sample("run_pipeline.json"), "config": {"standIn": {"seconds": 0, "lines": 4000}}}
    await server.request(AGENT, frame)
    await server.wait_event(AGENT, lambda e: e["type"] == "run_update" and e["state"] == "success")
    request = sample("logs.json")
    assert request["runId"] == frame["runId"]
    pieces: list[str] = []
    replies: list[dict[str, Any]] = []
    while True:
        reply = await server.request(AGENT, {**request, "id": f"logs-{len(replies)}"})
        assert reply["ok"] is True, reply
        result = reply["result"]
        replies.append(result)
        pieces.append(result["content"])
        assert len(result["content"].encode()) <= 64 * 1024
        if "after" not in result:
            break
        request["after"] = result["after"]
    text = "".join(pieces)
    assert len(replies) == 2
    assert replies[0]["after"] == str(len(replies[0]["content"].encode()))
    assert text.count("stand-in: step ") == 4000
    assert text.endswith("stand-in: exiting with 0\n")
    assert replies[-1]["total"] == len(text.encode())
    assert replies[-1]["runId"] == frame["runId"]

    unknown = await server.request(AGENT, {"type": "logs", "runId": "no-such-run"})
    assert unknown["error"]["code"] == "not_found"
    bad = await server.request(AGENT, {"type": "logs", "runId": frame["runId"], "after": 5})
    assert bad["error"]["code"] == "invalid_message"
    assert "$.after" in bad["error"]["message"]


async def test_schedules_under_the_local_executor_answer_unsupported(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    for name in ("deploy_pipeline.json", "toggle_pipeline.json", "delete_pipeline.json"):
        reply = await server.request(AGENT, sample(name))
        assert reply["ok"] is False
        assert reply["error"]["code"] == "unsupported"
        assert reply["error"]["retryable"] is False
        assert "EXECUTOR_TYPE=argo" in reply["error"]["message"]
    bad = await server.request(
        AGENT, {**sample("deploy_pipeline.json"), "id": "bad-cron", "schedule": "daily"}
    )
    assert bad["error"]["code"] == "invalid_message"
    assert bad["error"]["message"].startswith("$.schedule: ")


async def test_a_burst_of_requests_is_answered_in_full_and_leaves_the_socket_uncorked(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    await server.wait_active(AGENT)
    frames = [{"type": "status", "id": f"burst-{i}"} for i in range(64)]
    replies = await asyncio.gather(*(server.request(AGENT, f) for f in frames))
    assert [r["id"] for r in replies] == [f["id"] for f in frames]
    assert all(r["ok"] for r in replies)
    # Replies written together are corked until the end of the loop iteration (Linux), then
    # released: nothing stays held back once the burst is answered.
    await asyncio.sleep(0.05)
    ws = runner.connection._ws
    assert ws is not None
    sock = ws.get_extra_info("socket")
    if hasattr(socket, "TCP_CORK"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
    assert runner.connection.cork.held is False


async def test_unknown_type_gets_an_error_reply_with_its_id(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    reply = await server.request(AGENT, {"type": "frobnicate", "id": "u-1"})
    assert reply["id"] == "u-1"
    assert reply["ok"] is False
    assert reply["error"]["code"] == "unknown_message_type"
    assert "frobnicate" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"id": "x"}', "$.type"),
        ("\u00ff" * 3, "not valid JSON"),
    ],
)
async def test_malformed_frames_get_invalid_message_and_the_runner_keeps_serving(
    server: ReferenceServer, make_runner: MakeRunner, raw: str, fragment: str
) -> None:
    await make_runner()
    waiter = asyncio.ensure_future(server.next_reply(AGENT, "x" if '"x"' in raw else None))
    await asyncio.sleep(0)
    await server.send_raw(AGENT, raw)
    reply = await waiter
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid_message"
    assert fragment in reply["error"]["message"]
    status = await server.request(AGENT, sample("status.json"))
    assert status["ok"] is True


async def test_a_field_of_the_wrong_type_is_named(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    frame = {**sample("run_pipeline.json"), "runId": 42, "config": "nope"}
    reply = await server.request(AGENT, frame)
    assert reply["error"]["code"] == "invalid_message"
    assert "$.runId: expected a string, got number" in reply["error"]["message"]
    assert "$.config: expected an object, got string" in reply["error"]["message"]
    assert not server.events(AGENT, "run_update")


async def test_binary_frames_are_refused(server: ReferenceServer, make_runner: MakeRunner) -> None:
    await make_runner()
    waiter = asyncio.ensure_future(server.next_reply(AGENT, None))
    await asyncio.sleep(0)
    await server.send_raw(AGENT, b"\x00\x01binary")
    reply = await waiter
    assert reply["error"]["code"] == "invalid_message"
    assert "binary" in reply["error"]["message"]


async def test_oversized_frame_closes_with_1009_and_the_runner_reconnects(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner(MAX_FRAME_BYTES="2048")
    big = json.dumps({"type": "status", "id": "big", "pad": "x" * 4096})
    await server.send_raw(AGENT, big)
    await wait_for(lambda: len(server.agents[AGENT].close_codes) == 1)
    assert server.agents[AGENT].close_codes == [1009]
    await wait_for(lambda: server.agents[AGENT].sessions == 2)
    assert runner.connection.last_close_code == 1009
    reply = await server.request(AGENT, sample("status.json"))
    assert reply["ok"] is True


async def test_wrong_token_is_not_retried_at_the_normal_rate(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner(
        connect=False, AUTH_TOKEN="wrong-token-value", AUTH_FAILURE_RETRY_SECONDS="30"
    )
    await wait_for(lambda: runner.connection.last_close_code == 4401)
    # With the normal 0.05 s backoff this would be ~20 attempts.
    await asyncio.sleep(1.0)
    assert server.connection_attempts == 1
    assert await metric_value(runner, "hybrid_runner_auth_failures_total") == 1.0
    assert await metric_value(runner, "collate_hybrid_agent_connected") == 0.0
    status, body = await http_get(f"http://127.0.0.1:{runner.port}/readyz")
    assert status == 503
    assert "not connected" in body


async def test_server_restart_resent_request_gets_the_same_reply_and_launches_once(
    tmp_path: Path, make_runner: MakeRunner, server: ReferenceServer
) -> None:
    runner = await make_runner()
    frame = {**sample("run_pipeline.json"), "config": {"standIn": {"seconds": 30}}}
    first = await server.request(AGENT, frame)
    assert first["ok"] is True
    port = server.port
    await server.stop()
    await wait_for(lambda: not runner.context.runner.connected)

    restarted = ReferenceServer(server.tokens)
    await restarted.start(port=port or 0)
    try:
        started = time.monotonic()
        await restarted.wait_active(AGENT, timeout=10)
        # Reconnect within one backoff step (RECONNECT_MAX_DELAY_SECONDS=0.2, +20% jitter).
        assert time.monotonic() - started < 1.0
        second = await restarted.request(AGENT, frame)
        assert second == first
        other_id = await restarted.request(AGENT, {**frame, "id": "another-request-id"})
        assert other_id["ok"] is True
        assert other_id["result"]["runName"] == first["result"]["runName"]
        run_dirs = list(Path(runner.settings.state_dir, "runs").iterdir())
        assert len(run_dirs) == 1
        assert len(runner.context.executor.table) == 1
    finally:
        await restarted.stop()


async def test_metrics_gauge_and_readyz_follow_the_connection(
    tmp_path: Path, make_runner: MakeRunner, server: ReferenceServer
) -> None:
    port = free_port()
    later = ReferenceServer(server.tokens)
    runner = await make_runner(connect=False, SERVER_URL=f"ws://127.0.0.1:{port}/ws")
    assert await metric_value(runner, "collate_hybrid_agent_connected") == 0.0
    assert (await http_get(f"http://127.0.0.1:{runner.port}/readyz"))[0] == 503
    assert (await http_get(f"http://127.0.0.1:{runner.port}/healthz"))[0] == 200

    await later.start(port=port)
    try:
        await asyncio.wait_for(runner.connection.connected_event.wait(), 10)
        assert await metric_value(runner, "collate_hybrid_agent_connected") == 1.0
        assert (await http_get(f"http://127.0.0.1:{runner.port}/readyz"))[0] == 200
    finally:
        await later.stop()
    await wait_for(lambda: not runner.context.runner.connected)
    assert await metric_value(runner, "collate_hybrid_agent_connected") == 0.0
    assert (await http_get(f"http://127.0.0.1:{runner.port}/readyz"))[0] == 503


async def test_second_replica_with_the_same_agent_id_stands_by_and_takes_over(
    server: ReferenceServer, make_runner: MakeRunner, tmp_path: Path
) -> None:
    active = await make_runner()
    standby = await make_runner(connect=False, STANDBY_RETRY_SECONDS="0.3")
    await wait_for(lambda: standby.connection.standby)
    assert server.agents[AGENT].close_codes == []
    status, body = await http_get(f"http://127.0.0.1:{standby.port}/readyz")
    assert status == 503
    assert "standby" in body
    assert await metric_value(standby, "hybrid_runner_standby") == 1.0
    await active.stop(grace=1)
    await asyncio.wait_for(standby.connection.connected_event.wait(), 10)
    assert not standby.connection.standby
    reply = await server.request(AGENT, sample("status.json"))
    assert reply["ok"] is True


async def test_heartbeats_carry_active_runs(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    server.heartbeat_seconds = 0.2
    await make_runner()
    beat = await server.wait_event(AGENT, lambda e: e["type"] == "heartbeat", timeout=5)
    assert beat["agentId"] == AGENT
    assert beat["activeRuns"] == 0


async def test_sigterm_drains_the_running_handler_and_closes_going_away(
    server: ReferenceServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **runner_env(server, tmp_path / "state", KILL_GRACE_SECONDS="1.5"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await server.wait_active(AGENT, timeout=20)
        launch = {
            **sample("run_pipeline.json"),
            "config": {"standIn": {"seconds": 60, "ignoreTerm": True}},
        }
        assert (await server.request(AGENT, launch))["ok"] is True
        log = next((tmp_path / "state" / "runs").iterdir()) / "output.log"
        # The stand-in ignores SIGTERM only once it has started: wait for its first line.
        await wait_for(lambda: log.exists() and "stand-in:" in log.read_text())
        # The kill handler waits KILL_GRACE_SECONDS for the run to stop: SIGTERM the runner
        # while that handler is in flight.
        kill = asyncio.ensure_future(server.request(AGENT, sample("kill.json"), timeout=15))
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        reply = await kill
        assert reply["ok"] is True
        assert reply["result"]["runs"][0]["state"] == "stopped"
        code = await asyncio.to_thread(proc.wait, 15)
        assert code == 0
        await wait_for(lambda: server.agents[AGENT].close_codes != [])
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.stdout.read().decode() if proc.stdout else ""
    assert server.agents[AGENT].close_codes == [1001], output
    assert server_token(server) not in output
    assert "shutting down" in output
