"""A real forward proxy (Debian's squid) on 127.0.0.1 for the tests of the runner behind one.

A hand-written CONNECT proxy would only agree with the runner's own idea of the protocol; squid
is what customers put in front of their clusters, with Basic authentication through its
``basic_ncsa_auth`` helper and an htpasswd file, and its access log is the proof of what went
through it (a ``CONNECT host:port`` line with the authenticated user, ``TCP_DENIED/407`` for bad
credentials, nothing at all for a host NO_PROXY sends directly).

Each ``Squid`` has its own minimal squid.conf in a temporary directory: one ``http_port`` on a
free port of 127.0.0.1 (or another local address), no cache, its own service name (squid names
its shared memory after it, so two instances do not collide), CONNECT allowed only to the given
ports (squid answers 403 for others). Squid refuses to run as root: under root it runs as the
``proxy`` user (``nobody`` where there is none), so the directory is world-writable.
``apt-get install squid`` (.ci/run does) provides it; without it the tests are skipped naming
squid, or fail under ``E2E_REQUIRE=1`` as CI sets it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import pytest

SQUID = Path("/usr/sbin/squid")
NCSA_AUTH = Path("/usr/lib/squid/basic_ncsa_auth")


def require_squid() -> None:
    """Skip (fail under E2E_REQUIRE) unless squid and its Basic helper are installed."""
    missing = [str(p) for p in (SQUID, NCSA_AUTH) if not p.exists()]
    if shutil.which("openssl") is None:
        missing.append("openssl (for the htpasswd file)")
    if not missing:
        return
    reason = f"squid is not installed (missing {', '.join(missing)}): apt-get install squid"
    if os.environ.get("E2E_REQUIRE", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"E2E_REQUIRE is set and {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _htpasswd_line(user: str, password: str) -> str:
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"{user}:{hashed}\n"


def _effective_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("proxy", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    return None


@attrs.frozen
class LogLine:
    """One line of squid's native access log."""

    status: str  # e.g. TCP_TUNNEL/200, TCP_DENIED/407
    method: str
    url: str  # host:port for CONNECT
    user: str  # "-" when none was accepted or given
    raw: str


class Squid:
    """One squid process: ``url`` to use as HTTPS_PROXY, ``log_lines()`` to read its log."""

    def __init__(
        self,
        users: dict[str, str],
        connect_ports: Iterable[int],
        extra: Iterable[str] = (),
        host: str = "127.0.0.1",
    ) -> None:
        #: Where it listens: 127.0.0.1, or e.g. the kind network's gateway for pods to reach.
        self.host = host
        self.users = dict(users)
        self.connect_ports = sorted(set(connect_ports))
        #: More squid.conf lines (e.g. letting WebSocket upgrades of plain HTTP through).
        self.extra = list(extra)
        self.port = _free_port(host)
        self.dir = Path(tempfile.mkdtemp(prefix="hybrid-runner-squid-"))
        self.service = "hrsquid" + secrets.token_hex(4)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    def _config(self) -> str:
        d = self.dir
        if self.connect_ports:
            ports = " ".join(map(str, self.connect_ports))
            tunnels = [f"acl tunnel_ports port {ports}", "http_access deny CONNECT !tunnel_ports"]
        else:
            tunnels = ["http_access deny CONNECT"]
        lines = [
            f"http_port {self.host}:{self.port}",
            f"pid_filename {d}/squid.pid",
            f"coredump_dir {d}",
            f"cache_log {d}/cache.log",
            f"access_log stdio:{d}/access.log squid",
            "cache_store_log none",
            "cache deny all",
            "cache_mem 0 MB",
            "shutdown_lifetime 0 seconds",
            # Names are never resolved in these tests; no resolver means no wait for one.
            "dns_nameservers 127.0.0.1",
            f"auth_param basic program {NCSA_AUTH} {d}/htpasswd",
            "auth_param basic children 2 startup=1 idle=1",
            "auth_param basic realm hybrid-runner-test",
            "acl authenticated proxy_auth REQUIRED",
            "acl CONNECT method CONNECT",
            *tunnels,
            "http_access allow authenticated",
            "http_access deny all",
        ]
        lines += self.extra
        user = _effective_user()
        if user is not None:
            lines.append(f"cache_effective_user {user}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30.0) -> Squid:
        self.dir.chmod(0o777)
        (self.dir / "htpasswd").write_text(
            "".join(_htpasswd_line(u, p) for u, p in self.users.items())
        )
        (self.dir / "htpasswd").chmod(0o644)
        (self.dir / "squid.conf").write_text(self._config())
        self._process = subprocess.Popen(
            [str(SQUID), "-N", "-n", self.service, "-f", str(self.dir / "squid.conf")],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "stderr.log").open("wb"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"squid exited with {self._process.returncode}:\n{self.logs()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port)):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"squid did not listen within {timeout}s:\n{self.logs()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for segment in Path("/dev/shm").glob(f"{self.service}-*"):
            segment.unlink(missing_ok=True)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self) -> str:
        parts = []
        for name in ("stderr.log", "cache.log"):
            with contextlib.suppress(OSError):
                parts.append((self.dir / name).read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def log_lines(self) -> list[LogLine]:
        """The access log so far. Squid writes a CONNECT's line when its tunnel closes."""
        try:
            text = self.access_log.read_text()
        except FileNotFoundError:
            return []
        out = []
        for raw in text.splitlines():
            fields = raw.split()
            if len(fields) >= 8:
                out.append(LogLine(fields[3], fields[5], fields[6], fields[7], raw))
        return out


@contextlib.contextmanager
def running_squid(
    users: dict[str, str],
    connect_ports: Iterable[int],
    extra: Iterable[str] = (),
    host: str = "127.0.0.1",
) -> Iterator[Squid]:
    require_squid()
    squid = Squid(users, connect_ports, extra, host)
    try:
        yield squid.start()
    finally:
        squid.cleanup()
