"""e2e/kind/engine.py's private dockerd stopped, its pid file read, whether the default engine is
usable, and the module's command line; without starting an engine: ``os.kill``, ``shutil.which``
and ``engine._run`` are replaced, so no docker or signal is run for real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from e2e.kind import engine
from e2e.kind.engine import PrivateEngine
from tests.e2e_kind.engine_fakes import FakeRun, fake_which, forbid

# --- pid and stop ----------------------------------------------------------------------------


class Kill:
    """Replaces os.kill: signal 0 probes a simulated process, other signals are recorded."""

    def __init__(self, alive: bool = True, dies_on_term: bool = True) -> None:
        self.alive = alive
        self.dies_on_term = dies_on_term
        self.sent: list[tuple[int, int]] = []

    def __call__(self, pid: int, sig: int) -> None:
        if sig == 0:
            if not self.alive:
                raise ProcessLookupError(3, "No such process")
            return
        self.sent.append((pid, sig))
        if sig == signal.SIGKILL or (sig == signal.SIGTERM and self.dies_on_term):
            self.alive = False


def write_pid(private: PrivateEngine, text: str) -> None:
    private.root.mkdir(parents=True, exist_ok=True)
    private.pid_path.write_text(text)


def test_stop_without_a_pid_file_is_a_no_op(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill = Kill()
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)

    private.stop()

    assert kill.sent == []
    assert private.pid() is None


def test_stop_with_a_stale_pid_is_a_no_op(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pid(private, "4242\n")
    kill = Kill(alive=False)
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)

    private.stop()

    assert kill.sent == []
    assert private.pid_path.read_text() == "4242\n"


def test_stop_with_the_pid_of_a_reaped_process_sends_nothing(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real dead pid, probed with the real signal 0; any other signal is recorded, never sent.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_pid(private, str(dead.pid))
    real_kill = os.kill
    sent: list[tuple[int, int]] = []

    def probe_only(pid: int, sig: int) -> None:
        if sig == 0:
            real_kill(pid, 0)
        else:
            sent.append((pid, sig))

    monkeypatch.setattr("e2e.kind.engine.os.kill", probe_only)

    assert private.pid() is None
    private.stop()
    assert sent == []


@pytest.mark.parametrize("text", ["", "not-a-pid", "12 34"])
def test_stop_with_a_garbled_pid_file_is_a_no_op(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    write_pid(private, text)
    kill = Kill()
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)

    private.stop()

    assert kill.sent == []


def test_pid_reports_a_live_process(private: PrivateEngine) -> None:
    write_pid(private, f"{os.getpid()}\n")  # signal 0 to ourselves only probes

    assert private.pid() == os.getpid()


def test_stop_sends_sigterm_and_no_sigkill_when_the_engine_exits(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pid(private, "4242")
    kill = Kill(dies_on_term=True)
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)
    monkeypatch.setattr("e2e.kind.engine.time.sleep", lambda _s: pytest.fail("stop() slept"))

    private.stop()

    assert kill.sent == [(4242, signal.SIGTERM)]


def test_stop_escalates_to_sigkill_after_the_timeout(
    private: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_pid(private, "4242")
    kill = Kill(dies_on_term=False)
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)
    monkeypatch.setattr("e2e.kind.engine.time.sleep", lambda _s: pytest.fail("stop() slept"))

    private.stop(timeout=0)

    assert kill.sent == [(4242, signal.SIGTERM), (4242, signal.SIGKILL)]


# --- default_engine_usable -------------------------------------------------------------------


def test_default_engine_is_unusable_without_a_docker_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_which(monkeypatch, {"docker": None})
    forbid(monkeypatch, "_run")

    assert engine.default_engine_usable() is False


@pytest.mark.parametrize(("code", "usable"), [(0, True), (1, False)])
def test_default_engine_is_usable_when_docker_info_succeeds(
    monkeypatch: pytest.MonkeyPatch, code: int, usable: bool
) -> None:
    fake_which(monkeypatch, {"docker": "/usr/bin/docker"})
    run = FakeRun({"docker info --format {{.ServerVersion}}": code})
    monkeypatch.setattr(engine, "_run", run)

    assert engine.default_engine_usable() is usable
    assert run.calls == [["docker", "info", "--format", "{{.ServerVersion}}"]]


# --- main ------------------------------------------------------------------------------------


def test_main_env_prints_shell_exports_for_the_default_engine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "_run", "Popen")

    assert engine.main(["env"]) == 0

    socket = engine.CACHE / "docker" / "docker.sock"
    assert capsys.readouterr().out.splitlines() == [
        f"export DOCKER_HOST=unix://{socket}",
        "export DOCKER_BUILDKIT=0",
    ]


@pytest.fixture
def tmp_default(private: PrivateEngine, monkeypatch: pytest.MonkeyPatch) -> PrivateEngine:
    """main() builds PrivateEngine(): make that the engine under tmp_path."""
    monkeypatch.setattr(engine, "PrivateEngine", lambda: private)
    return private


def test_main_status_of_a_stopped_engine_returns_1(
    tmp_default: PrivateEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, "_run")

    assert engine.main(["status"]) == 1

    assert capsys.readouterr().out == f"private dockerd is not running at {tmp_default.host}\n"


def test_main_stop_of_a_stopped_engine_returns_0(
    tmp_default: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill = Kill(alive=False)
    monkeypatch.setattr("e2e.kind.engine.os.kill", kill)

    assert engine.main(["stop"]) == 0
    assert kill.sent == []


def test_main_start_reports_an_engine_error_and_returns_1(
    tmp_default: PrivateEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_which(monkeypatch, {"dockerd": None})
    forbid(monkeypatch, "_run", "Popen")

    assert engine.main(["start"]) == 1

    err = capsys.readouterr().err
    assert "needs dockerd" in err


def test_main_rejects_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        engine.main(["restart"])

    assert caught.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
