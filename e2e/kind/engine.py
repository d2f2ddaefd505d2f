"""The kind tier's own Docker engine: a private ``dockerd`` started and stopped by the tier.

Why not the machine's engine: on the project's CI machines there is none running, and a stock
dockerd cannot start kind's ``--privileged`` node containers there (the VM's capability bounding
set lacks CAP_SYS_RESOURCE; see runc_wrap.py). This engine has its own data root under
``~/.cache/hybrid-runner/docker`` (so built images are the tier's cache), its own socket, exec
root, pid file and bridge (``hrdocker0``), and a default runtime that is runc behind
``runc_wrap.py``. It never touches another engine: no shared socket, no ``--bridge none``
(which makes dockerd delete the host's ``docker0``), no iptables rules (``--iptables=false``;
builds that need the network use ``--network host``).

On a machine where a normal engine already answers (``docker info``) and runs privileged
containers, nothing here is needed: ``docker_host()`` returns ``None`` and the plain path is used.

CLI: ``python -m e2e.kind.engine start|stop|status|env``; ``env`` prints ``export DOCKER_HOST=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("HYBRID_RUNNER_CACHE") or Path.home() / ".cache" / "hybrid-runner")
BRIDGE = "hrdocker0"
BRIDGE_ADDRESS = "172.31.254.1/24"
RUNTIME = "hr-runc"


class EngineError(RuntimeError):
    """The private engine could not be started (the message says why)."""


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class PrivateEngine:
    """One private dockerd; every path derives from ``root``."""

    root: Path = CACHE / "docker"
    exec_root: Path = Path("/run/hybrid-runner-docker")  # short: containerd's socket lives here

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def pid_path(self) -> Path:
        return self.root / "dockerd.pid"

    def env(self) -> dict[str, str]:
        """Environment for docker, kind and pytest-kind: this engine, the legacy builder."""
        return {"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        proc = _run(
            ["docker", "-H", self.host, "info", "--format", "{{.ServerVersion}}"], timeout=20
        )
        return proc.returncode == 0

    def start(self, timeout: float = 60) -> bool:
        """Starts the engine unless it already answers; True when this call started it."""
        if self.answers():
            return False
        missing = [b for b in ("dockerd", "runc", "ip", "docker") if shutil.which(b) is None]
        if missing:
            raise EngineError(
                "the kind tier's Docker engine needs " + ", ".join(missing) + " on PATH "
                "(Debian: apt-get install docker.io iproute2)"
            )
        if os.geteuid() != 0:
            raise EngineError("the kind tier's private dockerd must be started as root")
        self._prepare()
        log = self.log_path.open("ab")
        subprocess.Popen(
            ["dockerd", "--config-file", str(self.root / "daemon.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives a test session that crashes: stop() ends it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return True
            time.sleep(0.5)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise EngineError(
            f"private dockerd did not answer within {timeout:.0f} s; log tail:\n{tail}"
        )

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        wrapper = self.root / "runc-wrap"
        real = shutil.which("runc")
        text = (HERE / "runc_wrap.py").read_text()
        text = text.replace('REAL_RUNC = "/usr/sbin/runc"', f"REAL_RUNC = {real!r}", 1)
        text = text.replace("#!/usr/bin/env python3", f"#!{_system_python()}", 1)
        wrapper.write_text(text)
        wrapper.chmod(0o755)
        config = {
            "data-root": str(self.root / "data"),
            "exec-root": str(self.exec_root),
            "pidfile": str(self.pid_path),
            "hosts": [self.host],
            "bridge": BRIDGE,
            "iptables": False,
            "ip-masq": False,
            "runtimes": {RUNTIME: {"path": str(wrapper)}},
            "default-runtime": RUNTIME,
            "log-level": "warn",
        }
        (self.root / "daemon.json").write_text(json.dumps(config, indent=1))
        if _run(["ip", "link", "show", BRIDGE]).returncode != 0:
            for cmd in (
                ["ip", "link", "add", BRIDGE, "type", "bridge"],
                ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE],
                ["ip", "link", "set", BRIDGE, "up"],
            ):
                proc = _run(cmd)
                if proc.returncode != 0:
                    raise EngineError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop(self, timeout: float = 60) -> None:
        """Stops the engine (its containers stop with it); a no-op when it is not running."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.5)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)


def _system_python() -> str:
    """An interpreter that exists as long as the machine does (not a venv that may go away)."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def default_engine_usable() -> bool:
    """True when the environment's own engine (DOCKER_HOST or the default socket) answers."""
    if shutil.which("docker") is None:
        return False
    return _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status", "env"))
    args = parser.parse_args(argv)
    engine = PrivateEngine()
    if args.command == "start":
        try:
            started = engine.start()
        except EngineError as e:
            print(e, file=sys.stderr)
            return 1
        print(f"private dockerd {'started' if started else 'already running'}: {engine.host}")
    elif args.command == "stop":
        engine.stop()
    elif args.command == "status":
        up = engine.answers()
        print(f"private dockerd {'answers' if up else 'is not running'} at {engine.host}")
        return 0 if up else 1
    else:
        for key, value in engine.env().items():
            print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
