"""e2e/kind/engine.py runs the kind tier's private dockerd; this checks it without starting one.

The engine must never share a socket, bridge or iptables rules with another engine on the
machine, and must route every container through runc_wrap.py with the real runc path written in.
A wrong daemon.json or wrapper only shows up as a cluster that will not come up, as root, on CI.
Here ``shutil.which``, ``_run`` and ``os.kill`` are replaced, so no ``ip``, docker or signal is
run for real.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

import pytest

from e2e.kind import engine
from e2e.kind.engine import EngineError, PrivateEngine
from tests.e2e_kind.engine_fakes import FakeRun, fake_which, forbid

FAKE_RUNC = "/opt/fake bin/it's/runc"  # a space and a quote: written as a Python literal


SHOW = f"ip link show {engine.BRIDGE}"
BRIDGE_SETUP = [
    ["ip", "link", "add", engine.BRIDGE, "type", "bridge"],
    ["ip", "addr", "add", engine.BRIDGE_ADDRESS, "dev", engine.BRIDGE],
    ["ip", "link", "set", engine.BRIDGE, "up"],
]


# --- paths and environment -------------------------------------------------------------------


def test_every_path_derives_from_root(private: PrivateEngine, tmp_path: Path) -> None:
    assert private.socket == tmp_path / "d" / "docker.sock"
    assert private.host == f"unix://{tmp_path}/d/docker.sock"
    assert private.log_path == tmp_path / "d" / "dockerd.log"
    assert private.pid_path == tmp_path / "d" / "dockerd.pid"
    assert private.exec_root == tmp_path / "x"


def test_env_points_docker_at_this_engine_with_the_legacy_builder(
    private: PrivateEngine,
) -> None:
    assert private.env() == {"DOCKER_HOST": private.host, "DOCKER_BUILDKIT": "0"}


def test_default_engine_lives_in_the_cache() -> None:
    default = PrivateEngine()
    assert default.root == engine.CACHE / "docker"
    assert default.socket == engine.CACHE / "docker" / "docker.sock"
    assert default.socket.is_absolute()


def test_constructing_an_engine_touches_nothing(private: PrivateEngine, tmp_path: Path) -> None:
    assert private.env()
    assert list(tmp_path.iterdir()) == []


# --- _prepare --------------------------------------------------------------------------------


@pytest.fixture
def prepared(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> tuple[PrivateEngine, FakeRun]:
    fake_which(monkeypatch, {"runc": FAKE_RUNC})
    run = FakeRun({SHOW: 1})  # no bridge yet
    monkeypatch.setattr(engine, "_run", run)
    private._prepare()
    return private, run


def test_prepare_writes_a_daemon_json_that_shares_nothing(
    prepared: tuple[PrivateEngine, FakeRun], tmp_path: Path
) -> None:
    private, _ = prepared
    config = json.loads((tmp_path / "d" / "daemon.json").read_text())

    assert config == {
        "data-root": str(tmp_path / "d" / "data"),
        "exec-root": str(tmp_path / "x"),
        "pidfile": str(tmp_path / "d" / "dockerd.pid"),
        "hosts": [private.host],
        "bridge": "hrdocker0",
        "iptables": False,
        "ip-masq": False,
        "runtimes": {"hr-runc": {"path": str(tmp_path / "d" / "runc-wrap")}},
        "default-runtime": "hr-runc",
        "log-level": "warn",
    }


def test_prepare_creates_root_and_exec_root(
    prepared: tuple[PrivateEngine, FakeRun], tmp_path: Path
) -> None:
    assert (tmp_path / "d").is_dir()
    assert (tmp_path / "x").is_dir()


def test_prepare_writes_an_executable_wrapper_naming_the_real_runc(
    prepared: tuple[PrivateEngine, FakeRun], tmp_path: Path
) -> None:
    wrapper = tmp_path / "d" / "runc-wrap"

    assert wrapper.stat().st_mode & 0o777 == 0o755
    assert os.access(wrapper, os.X_OK)
    namespace = runpy.run_path(str(wrapper), run_name="runc_wrap_copy")  # not "__main__"
    assert namespace["REAL_RUNC"] == FAKE_RUNC
    assert callable(namespace["main"])


def test_prepare_wrapper_is_runc_wrap_with_only_two_lines_changed(
    prepared: tuple[PrivateEngine, FakeRun], tmp_path: Path
) -> None:
    source = (engine.HERE / "runc_wrap.py").read_text().splitlines()
    wrapper = (tmp_path / "d" / "runc-wrap").read_text().splitlines()

    assert len(wrapper) == len(source)
    changed = [i for i, (a, b) in enumerate(zip(source, wrapper, strict=True)) if a != b]
    assert [source[i] for i in changed] == [
        "#!/usr/bin/env python3",
        'REAL_RUNC = "/usr/sbin/runc"',
    ]
    assert wrapper[changed[1]] == f"REAL_RUNC = {FAKE_RUNC!r}"


def test_prepare_wrapper_shebang_names_an_existing_python(
    prepared: tuple[PrivateEngine, FakeRun], tmp_path: Path
) -> None:
    first = (tmp_path / "d" / "runc-wrap").read_text().splitlines()[0]

    assert first.startswith("#!/")
    interpreter = Path(first[2:])
    assert interpreter.is_file()
    assert os.access(interpreter, os.X_OK)
    assert "python" in interpreter.name


def test_prepare_prefers_the_system_python_over_a_venv(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked = fake_which(monkeypatch, {"runc": FAKE_RUNC, "python3": "/usr/bin/python3"})
    monkeypatch.setattr(engine, "_run", FakeRun())

    private._prepare()

    assert ("python3", "/usr/bin:/bin") in asked
    first = (tmp_path / "d" / "runc-wrap").read_text().splitlines()[0]
    assert first == "#!/usr/bin/python3"


def test_prepare_falls_back_to_this_interpreter_without_a_system_python(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_which(monkeypatch, {"runc": FAKE_RUNC, "python3": None})
    monkeypatch.setattr(engine, "_run", FakeRun())

    private._prepare()

    first = (tmp_path / "d" / "runc-wrap").read_text().splitlines()[0]
    assert first == f"#!{sys.executable}"


def test_prepare_creates_the_bridge_when_it_is_missing(
    prepared: tuple[PrivateEngine, FakeRun],
) -> None:
    _, run = prepared

    assert run.calls == [["ip", "link", "show", "hrdocker0"], *BRIDGE_SETUP]


def test_prepare_reuses_an_existing_bridge(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_which(monkeypatch, {"runc": FAKE_RUNC})
    run = FakeRun({SHOW: 0})
    monkeypatch.setattr(engine, "_run", run)

    private._prepare()

    assert run.calls == [["ip", "link", "show", "hrdocker0"]]


def test_prepare_names_the_failing_ip_command_and_stops_there(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_which(monkeypatch, {"runc": FAKE_RUNC})
    failing = " ".join(BRIDGE_SETUP[1])
    run = FakeRun({SHOW: 1, failing: 2}, stderr="RTNETLINK answers: File exists\n")
    monkeypatch.setattr(engine, "_run", run)

    with pytest.raises(EngineError) as caught:
        private._prepare()

    assert str(caught.value) == f"{failing} failed: RTNETLINK answers: File exists"
    assert run.calls == [SHOW.split(), *BRIDGE_SETUP[:2]]  # "link set up" never ran


def test_prepare_again_rewrites_the_wrapper_for_a_moved_runc(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engine, "_run", FakeRun())
    fake_which(monkeypatch, {"runc": "/usr/sbin/runc"})
    private._prepare()
    fake_which(monkeypatch, {"runc": "/usr/local/sbin/runc"})

    private._prepare()

    namespace = runpy.run_path(str(tmp_path / "d" / "runc-wrap"), run_name="runc_wrap_copy")
    assert namespace["REAL_RUNC"] == "/usr/local/sbin/runc"


# --- start -----------------------------------------------------------------------------------


def test_start_names_a_missing_dockerd(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_which(
        monkeypatch,
        {"dockerd": None, "runc": "/usr/sbin/runc", "ip": "/usr/sbin/ip", "docker": "/bin/docker"},
    )
    forbid(monkeypatch, "_run", "Popen")

    with pytest.raises(EngineError) as caught:
        private.start()

    message = str(caught.value)
    assert "needs dockerd on PATH" in message
    assert "runc" not in message.split("on PATH")[0]
    assert "apt-get install docker.io iproute2" in message
    assert list(tmp_path.iterdir()) == []  # nothing prepared


def test_start_names_every_missing_binary(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_which(monkeypatch, {"dockerd": None, "runc": None, "ip": None, "docker": None})
    forbid(monkeypatch, "_run", "Popen")

    with pytest.raises(EngineError, match="needs dockerd, runc, ip, docker on PATH"):
        private.start()


def test_start_refuses_to_run_as_a_normal_user(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_which(monkeypatch, dict.fromkeys(("dockerd", "runc", "ip", "docker"), "/bin/true"))
    forbid(monkeypatch, "_run", "Popen")
    monkeypatch.setattr("e2e.kind.engine.os.geteuid", lambda: 1000)

    with pytest.raises(EngineError, match="must be started as root"):
        private.start()

    assert list(tmp_path.iterdir()) == []


def test_start_does_nothing_when_the_engine_already_answers(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PrivateEngine, "answers", lambda self: True)
    asked = fake_which(monkeypatch, {})
    forbid(monkeypatch, "_run", "Popen")

    assert private.start() is False
    assert asked == []


def test_answers_is_false_without_a_socket_and_runs_no_docker(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "_run")

    assert private.answers() is False


def test_answers_asks_docker_on_this_engines_socket(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    private.socket.touch()
    run = FakeRun()
    monkeypatch.setattr(engine, "_run", run)

    assert private.answers() is True
    assert run.calls == [["docker", "-H", private.host, "info", "--format", "{{.ServerVersion}}"]]
