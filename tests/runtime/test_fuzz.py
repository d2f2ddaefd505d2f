"""Bad input never crashes the runner: property-based fuzzing of the codec and dispatcher.

At least 10,000 generated frames per run go through the real codec and dispatcher (with the real
handlers in dry-run mode, so valid launches render instead of starting processes), plus a smaller
sample over a real websocket. Every frame is answered or refused exactly as docs/protocol.md says.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from runtime.composition import build_context, build_dispatcher
from runtime.devkit.reference_server import ReferenceServer
from runtime.serving.dispatch import Dispatcher
from runtime.settings import VARIABLES, Settings
from runtime.wire import codec, errors
from runtime.wire.errors import ConfigError
from runtime.wire.messages import REQUEST_TYPES
from tests.conftest import AGENT, MakeRunner

DOCUMENTED_CODES = {
    cls.code
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.RunnerError)
}
FIELDS = ["id", "type", "runId", "pipelineType", "pipelineFqn", "config", "workflow", "image"]
TAGS = [cl.TYPE for cl in REQUEST_TYPES] + ["reply", "hello", "welcome", "", "RUN_PIPELINE"]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def shaped_frames(draw: st.DrawFn) -> str:
    """Objects that look like requests, with each field present, absent or of any type."""
    frame: dict[str, Any] = {}
    if draw(st.booleans()):
        frame["type"] = draw(st.sampled_from(TAGS) | json_values)
    for field in [*FIELDS[2:], "id"]:
        choice = draw(st.integers(0, 3))
        if choice == 1:
            frame[field] = draw(st.text(max_size=30))
        elif choice == 2:
            frame[field] = draw(json_values)
        elif choice == 3 and field in ("config", "workflow"):
            frame[field] = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))
    return json.dumps(frame)


huge = st.integers(1, 3).map(
    lambda n: json.dumps({"type": "status", "id": "h", "x": "y" * 10**n * 50})
)
deep = st.integers(50, 5000).map(lambda n: "[" * n + "]" * n)
deep_object = st.integers(10, 3000).map(
    lambda n: '{"type":"run_pipeline","id":"d","config":' + '{"a":' * n + "1" + "}" * n + "}"
)
# Issue 13: what a hostile server can put inside a frame of acceptable size.
lone_surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
LAUNCH = {"type": "run_pipeline", "runId": "r", "pipelineType": "m", "pipelineFqn": "f"}


@st.composite
def surrogate_frames(draw: st.DrawFn) -> str:
    """A lone surrogate (written as its escape, as json.dumps does) in the id, a known string
    field, a config key or value, or an unknown member."""
    bad = draw(st.text(max_size=3)) + draw(lone_surrogate) + draw(st.text(max_size=3))
    frame: dict[str, Any] = {**LAUNCH, "id": draw(st.text(min_size=1, max_size=8)), "config": {}}
    where = draw(st.sampled_from(["id", "pipelineFqn", "runId", "key", "value", "unknown"]))
    if where in ("id", "pipelineFqn", "runId"):
        frame[where] = bad
    elif where == "key":
        frame["config"] = {bad: 1}
    elif where == "value":
        frame["config"] = {"source": {"password": bad}}
    else:
        frame["extra"] = bad
    return json.dumps(frame)


@st.composite
def huge_integer_frames(draw: st.DrawFn) -> str:
    """An integer beyond Python's 4,300-digit conversion limit in an unknown or known member."""
    digits = "7" * draw(st.integers(4000, 6000))
    member = draw(st.sampled_from(["extra", "runId", "pipelineFqn"]))
    return '{"type":"status","id":"int","' + member + '":' + digits + "}"


@st.composite
def nested_config_frames(draw: st.DrawFn) -> str:
    """A launch whose config nests around the documented limit (64 levels, frame included)."""
    levels = draw(st.integers(50, 80) | st.integers(80, 950))
    config = '{"a":' * levels + "1" + "}" * levels
    frame = json.dumps({**LAUNCH, "id": "nest"})
    return frame[:-1] + ',"config":' + config + "}"


maximal_ids = st.sampled_from([255, 256, 257, 4096, 200_000]).map(
    lambda n: json.dumps({"type": "status", "id": "i" * n})
)
frames = st.one_of(
    shaped_frames(),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    huge,
    deep,
    deep_object,
    surrogate_frames(),
    huge_integer_frames(),
    nested_config_frames(),
    maximal_ids,
)


def parse_any_int(digits: str) -> int | float:
    """A JSON integer, read whatever its length (beyond 4,000 digits only its magnitude)."""
    return int(digits) if len(digits) < 4000 else float("inf")


def readable_id(raw: str | bytes) -> str | None:
    """The frame's id as an unconstrained parser reads it (no digit or depth limit)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)  # the frames here nest at most 5,000 levels
    try:
        data = json.loads(raw, parse_int=parse_any_int)
    except (ValueError, RecursionError):
        return None
    finally:
        sys.setrecursionlimit(limit)
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].strip():
        return str(data["id"])
    return None


@pytest.fixture(scope="module")
def loop() -> Any:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory, loop: Any) -> Dispatcher:
    state = tmp_path_factory.mktemp("fuzz-state")
    settings_ = Settings.from_env({"STATE_DIR": str(state), "SECRETS_PREFLIGHT": "false"})
    context, router = build_context(settings_, registry=CollectorRegistry(), dry_run=True)

    async def make() -> Dispatcher:
        return build_dispatcher(context, router)

    made: Dispatcher = loop.run_until_complete(make())
    return made


def check_reply(raw: str | bytes, reply: Any) -> None:
    encoded = json.loads(codec.encode(reply))
    assert encoded["type"] == "reply"
    if reply.ok:
        # Only a well-formed request of a known type can succeed.
        data = json.loads(raw, parse_int=parse_any_int)
        assert data["type"] in {cl.TYPE for cl in REQUEST_TYPES}
        assert encoded["id"] == data["id"]
        assert len(data["id"]) <= 256
        return
    assert reply.error.code in DOCUMENTED_CODES
    assert reply.error.message
    # Every readable id is echoed, whatever else is wrong with the frame (null otherwise).
    assert encoded["id"] == readable_id(raw)


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)
@given(raw=frames)
def test_ten_thousand_fuzzed_frames_are_all_answered_as_documented(
    raw: str | bytes, dispatcher: Dispatcher, loop: Any
) -> None:
    reply = loop.run_until_complete(dispatcher.handle_frame(raw))
    check_reply(raw, reply)


def test_memory_stays_bounded_under_fuzzing(dispatcher: Dispatcher, loop: Any) -> None:
    # Runs after the 10,000 frames above in the same module: the reply cache is bounded and
    # the process did not balloon.
    assert len(dispatcher.cache) <= dispatcher.context.settings.reply_cache_size
    assert dispatcher.cache.bytes <= dispatcher.cache.max_bytes
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 1500


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_every_variable_either_parses_or_names_itself(data: st.DataObject) -> None:
    variable = data.draw(st.sampled_from(VARIABLES))
    value = data.draw(
        st.text(max_size=30)
        | st.sampled_from(["-1", "1e400", "nan", "{", "[]", "true", "70000", "ws://x"])
    )
    try:
        Settings.from_env({variable.name: value})
    except ConfigError as exc:
        # AZURE_KEY_VAULT_NAME is reported when SECRETS_MANAGER asks for Azure without it.
        assert exc.variable in (variable.name, "AZURE_KEY_VAULT_NAME")  # noqa: PT017


async def test_fuzzed_frames_over_a_real_websocket(
    server: ReferenceServer, make_runner: MakeRunner, tmp_path: Path
) -> None:
    """A smaller sample through the wire: the runner answers each and stays connected."""
    runner = await make_runner()
    examples: list[str | bytes] = []

    @settings(
        max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        raw=st.one_of(
            shaped_frames(),
            st.text(max_size=100),
            st.binary(max_size=50),
            surrogate_frames(),
            huge_integer_frames(),
            nested_config_frames(),
            maximal_ids,
        )
    )
    def collect(raw: str | bytes) -> None:
        examples.append(raw)

    collect()
    for index, raw in enumerate(examples):
        if isinstance(raw, str) and readable_id(raw) is not None and '"int"' not in raw:
            # Re-tag the id so replies can be matched even when hypothesis repeats ids.
            data = json.loads(raw)
            data["id"] = f"fuzz-{index}"
            raw = json.dumps(data)
        request_id = readable_id(raw)
        waiter = asyncio.ensure_future(server.next_reply(AGENT, request_id, timeout=10))
        await asyncio.sleep(0)
        await server.send_raw(AGENT, raw)
        reply = await waiter
        assert reply["type"] == "reply"
        assert reply["id"] == request_id
        if not reply["ok"]:
            assert reply["error"]["code"] in DOCUMENTED_CODES
    assert runner.context.runner.connected
    assert server.agents[AGENT].sessions == 1
