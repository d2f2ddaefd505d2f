"""The codec: every sample round-trips; every kind of bad frame is named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.wire import codec
from runtime.wire.messages import (
    REQUEST_TYPES,
    AgentStatus,
    CheckConnection,
    ErrorInfo,
    Hello,
    Kill,
    LaunchResult,
    Reply,
    RunPipeline,
    RunUpdate,
    Status,
)
from tests.conftest import MESSAGES

SAMPLES = sorted(MESSAGES.glob("*.json"))


def test_there_is_a_sample_for_every_request_type() -> None:
    tags = {json.loads(p.read_text())["type"] for p in SAMPLES}
    assert tags == {cl.TYPE for cl in REQUEST_TYPES}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_samples_round_trip(path: Path) -> None:
    wire = json.loads(path.read_text())
    message = codec.decode_request(path.read_text())
    assert json.loads(codec.encode(message)) == wire


def test_wire_names_are_camel_case() -> None:
    update = RunUpdate(
        run_id="r",
        run_name="om-r",
        pipeline_fqn="svc.p",
        pipeline_type="metadata",
        state="running",
        start_date=1,
    )
    assert json.loads(codec.encode(update)) == {
        "type": "run_update",
        "runId": "r",
        "runName": "om-r",
        "pipelineFqn": "svc.p",
        "pipelineType": "metadata",
        "state": "running",
        "startDate": 1,
    }


def test_replies_encode_ok_and_error_shapes() -> None:
    ok = Reply(id="1", ok=True, result=LaunchResult(run_id="r", run_name="n", state="queued"))
    assert json.loads(codec.encode(ok)) == {
        "type": "reply",
        "id": "1",
        "ok": True,
        "result": {"runId": "r", "runName": "n", "state": "queued"},
    }
    err = Reply(id=None, ok=False, error=ErrorInfo(code="invalid_message", message="m"))
    assert json.loads(codec.encode(err)) == {
        "type": "reply",
        "id": None,
        "ok": False,
        "error": {"code": "invalid_message", "message": "m", "retryable": False},
    }
    status = AgentStatus(
        agent_id="a",
        version="1",
        executor="local",
        connected=True,
        server_version="",
        active_runs=0,
        queued_runs=0,
        tracked_runs=0,
        uptime_seconds=1.0,
        reachability={},
        capabilities=[],
    )
    assert (
        "trackedRuns" in json.loads(codec.encode(Reply(id="2", ok=True, result=status)))["result"]
    )


@pytest.mark.parametrize(
    ("frame", "code", "request_id", "fragment"),
    [
        ("not json", "invalid_message", None, "not valid JSON"),
        ("[]", "invalid_message", None, "must be a JSON object"),
        ('"text"', "invalid_message", None, "got string"),
        ("{}", "invalid_message", None, "$.type"),
        ('{"type": 5, "id": "a"}', "invalid_message", "a", "$.type"),
        ('{"type": "status"}', "invalid_message", None, "$.id"),
        ('{"type": "status", "id": 7}', "invalid_message", None, "$.id"),
        ('{"type": "status", "id": "  "}', "invalid_message", None, "$.id"),
        ('{"type": "nope", "id": "a"}', "unknown_message_type", "a", "'nope'"),
        (
            '{"type": "status", "id": "a", "runId": 1}',
            "invalid_message",
            "a",
            "$.runId: expected a string, got number",
        ),
        (
            '{"type": "status", "id": "a", "runId": true}',
            "invalid_message",
            "a",
            "$.runId: expected a string, got boolean",
        ),
        (
            '{"type": "kill", "id": "a", "pipelineFqn": ["x"]}',
            "invalid_message",
            "a",
            "$.pipelineFqn: expected a string, got array",
        ),
        (
            '{"type": "run_pipeline", "id": "a", "runId": "r"}',
            "invalid_message",
            "a",
            "$.pipelineType: required field missing",
        ),
        (
            '{"type": "run_pipeline", "id": "a", "runId": "", "pipelineType": "m",'
            ' "pipelineFqn": "f", "config": {}}',
            "invalid_message",
            "a",
            "runId must not be empty",
        ),
        (
            '{"type": "test_connection", "id": "a", "runId": "r", "workflow": null}',
            "invalid_message",
            "a",
            "$.workflow: expected an object, got null",
        ),
        ("[" * 100_000, "invalid_message", None, "not valid JSON"),
        (
            '{"type": "status", "id": "a", "runId": ' + "9" * 5000 + "}",
            "invalid_message",
            "a",
            "$.runId: an integer of 5000 digits (at most 4300)",
        ),
        (
            r'{"type": "status", "id": "a", "pipelineFqn": "p\udfff"}',
            "invalid_message",
            "a",
            "$.pipelineFqn: contains a lone surrogate",
        ),
        (
            r'{"type": "kill", "id": "k\ud800", "runId": "r"}',
            "invalid_message",
            "k\ud800",
            "$.id: contains a lone surrogate",
        ),
        (
            '{"type": "status", "id": "' + "i" * 257 + '"}',
            "invalid_message",
            "i" * 257,
            "$.id: longer than 256 characters",
        ),
    ],
)
def test_bad_frames_are_refused_with_a_named_culprit(
    frame: str, code: str, request_id: str | None, fragment: str
) -> None:
    with pytest.raises(codec.FrameError) as caught:
        codec.decode_request(frame)
    assert caught.value.code == code
    assert caught.value.request_id == request_id
    assert fragment in caught.value.message


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    message = codec.decode_request('{"type": "status", "id": "a", "futureField": {"x": 1}}')
    assert message == Status(id="a")


def test_bytes_frames_decode_like_text() -> None:
    assert codec.decode_request(b'{"type": "kill", "id": "k", "runId": "r"}') == Kill(
        id="k", run_id="r"
    )
    with pytest.raises(codec.FrameError):
        codec.decode_request(b"\xff\xfe")


def test_each_request_class_decodes_to_itself() -> None:
    assert isinstance(
        codec.decode_request((MESSAGES / "run_pipeline.json").read_text()), RunPipeline
    )
    assert isinstance(
        codec.decode_request((MESSAGES / "test_connection.json").read_text()), CheckConnection
    )


def test_runner_frames_decode_for_the_server() -> None:
    hello = Hello(protocol=1, agent_id="a", version="v", executor="argo", capabilities=["kill"])
    assert codec.decode_runner_frame(codec.encode(hello)) == hello
    with pytest.raises(codec.FrameError):
        codec.decode_runner_frame('{"type": "status", "id": "x"}')


def test_welcome_is_checked() -> None:
    welcome = codec.decode_welcome('{"type": "welcome", "protocol": 1, "serverVersion": "1.2.3"}')
    assert welcome.server_version == "1.2.3"
    with pytest.raises(codec.FrameError, match="expected a welcome"):
        codec.decode_welcome('{"type": "status", "id": "x"}')
    with pytest.raises(codec.FrameError, match="protocol"):
        codec.decode_welcome('{"type": "welcome", "protocol": "one"}')


# The codec reads and writes through orjson where orjson gives what the standard json module
# gives, and through json itself elsewhere; these cases are the ones where the two differ.
@pytest.mark.parametrize(
    "value",
    [
        1.5,
        0.0,
        -0.0,
        1e-05,
        1e-07,
        2e16,
        float("nan"),
        float("inf"),
        float("-inf"),
        {"a": [1e-07, 3.25, {"b": float("-inf")}]},
        2**64,
        -(2**63) - 1,
        {1: "non-str key"},
        "é ü \u2028 \x00 \x1f \x7f",
        (1, 2.5),
    ],
    ids=repr,
)
def test_encode_writes_what_json_writes(value: object) -> None:
    reply = Reply(id="x", ok=True, result=value)
    expected = json.dumps(
        {"type": "reply", **codec.unstructure(reply)}, separators=(",", ":"), ensure_ascii=False
    )
    assert codec.encode(reply) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"kill","id":"x","runId":"r","big":18446744073709551616}',
        '{"type":"kill","id":"x","runId":"r","big":-9223372036854775809}',
        '{"type":"kill","id":"x","runId":"r","f":NaN,"g":-Infinity,"h":1e400}',
        '{"type":"kill","id":"x","runId":"r","s":"\\ud800"}',
        '{"type":"kill","id":"x","runId":"r","a":1,"a":2}',
        '{"type":"kill","id":"x","runId":"r","deep":' + "[" * 300 + "]" * 300 + "}",
    ],
)
def test_frames_json_accepts_are_accepted(text: str) -> None:
    assert codec.decode_request(text) == Kill(id="x", run_id="r")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Read despite its depth (cut below the limit), so the answer says what it is.
        ("[" * 5000 + "]" * 5000, "frame must be a JSON object, got array"),
        ("[" * 5000 + "]" * 4999, "frame is not valid JSON: maximum recursion depth exceeded"),
        ("\ufeff{}", "frame is not valid JSON: Unexpected UTF-8 BOM"),
        ("{}\x0c", "frame is not valid JSON: Extra data: line 1 column 3 (char 2)"),
        ('{"a": NaN', "frame is not valid JSON: Expecting ',' delimiter"),
    ],
)
def test_frames_json_refuses_are_refused_with_its_message(text: str, message: str) -> None:
    with pytest.raises(codec.FrameError) as caught:
        codec.decode_request(text)
    assert caught.value.code == "invalid_message"
    assert caught.value.message.startswith(message)


def _nested_config(levels: int) -> str:
    """A run_pipeline whose frame nests ``levels`` levels (the frame itself is level 1)."""
    inner = levels - 1  # config is level 2
    config = '{"a":' * (inner - 1) + "{}" + "}" * (inner - 1)
    return (
        '{"type": "run_pipeline", "id": "d", "runId": "r", "pipelineType": "m",'
        f' "pipelineFqn": "f", "config": {config}}}'
    )


def test_nesting_is_allowed_to_64_levels_and_refused_beyond() -> None:
    assert isinstance(codec.decode_request(_nested_config(64)), RunPipeline)
    with pytest.raises(codec.FrameError) as caught:
        codec.decode_request(_nested_config(65))
    assert (caught.value.code, caught.value.request_id) == ("invalid_message", "d")
    assert caught.value.message.endswith(": nested deeper than 64 levels")


@pytest.mark.parametrize("levels", [2_000, 100_000])
def test_nesting_beyond_the_parsers_recursion_still_echoes_the_id(levels: int) -> None:
    with pytest.raises(codec.FrameError) as caught:
        codec.decode_request(_nested_config(levels))
    assert (caught.value.code, caught.value.request_id) == ("invalid_message", "d")
    assert caught.value.message.endswith(": nested deeper than 64 levels")


def test_unknown_members_are_ignored_whatever_they_hold() -> None:
    frame = (
        '{"type": "status", "id": "s", "n": ' + "9" * 5000 + r', "s": "\ud800",'
        ' "deep": ' + "[" * 5000 + "]" * 5000 + "}"
    )
    assert codec.decode_request(frame) == Status(id="s")


def test_a_reply_echoing_a_lone_surrogate_is_escaped_so_it_can_be_sent() -> None:
    text = codec.encode(Reply(id="sur-\ud800", ok=True, result={"n": "\u00e9"}))
    text.encode("utf-8")  # a WebSocket text frame must be UTF-8
    assert json.loads(text)["id"] == "sur-\ud800"
    assert json.loads(text)["result"] == {"n": "\u00e9"}
