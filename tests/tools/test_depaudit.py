"""The lock-file audit against a local index speaking PyPI's project JSON over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import depaudit

LOCK = """
version = 1
requires-python = ">=3.11"

[[package]]
name = "our-project"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "goodlib"
version = "2.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "badlib"
version = "1.4"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "oldlib"
version = "0.9"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "privatelib"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "gitlib"
version = "1.0"
source = { git = "https://example.com/gitlib.git" }
"""

BAD_ADVISORY = {
    "id": "PYSEC-2026-1",
    "aliases": ["CVE-2026-0001", "GHSA-aaaa-bbbb-cccc"],
    "summary": "Request smuggling in badlib's parser",
    "fixed_in": ["1.5"],
    "withdrawn": None,
}
WITHDRAWN = {"id": "PYSEC-2025-9", "aliases": [], "fixed_in": [], "withdrawn": "2025-01-01"}

PROJECTS: dict[str, dict[str, Any]] = {
    "goodlib": {"info": {"version": "2.0.0"}, "vulnerabilities": [WITHDRAWN]},
    "badlib": {"info": {"version": "1.4.0"}, "vulnerabilities": [BAD_ADVISORY]},
    # Its latest release is clean, which says nothing about the locked 0.9.
    "oldlib": {"info": {"version": "1.0"}, "vulnerabilities": []},
}


class Index(BaseHTTPRequestHandler):
    broken = False

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        data = PROJECTS.get(parts[1]) if len(parts) == 3 and parts[2] == "json" else None
        if self.broken:
            self.send_response(503)
            self.end_headers()
            return
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def index() -> Iterator[tuple[str, type[Index]]]:
    handler = type("IndexHandler", (Index,), {"broken": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def run(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    lock = tmp_path / "uv.lock"
    lock.write_text(LOCK)
    code = depaudit.main(["--lock", str(lock), "--index", url, *extra])
    return code, capsys.readouterr().out


def test_lock_parsing_keeps_index_packages_once() -> None:
    names = [(p.name, p.version) for p in depaudit.locked_packages(LOCK + LOCK[LOCK.index("[[") :])]
    assert names == [
        ("badlib", "1.4"),
        ("goodlib", "2.0.0"),
        ("oldlib", "0.9"),
        ("privatelib", "1.0"),
    ]


def test_the_projects_own_lock_parses() -> None:
    packages = depaudit.locked_packages(Path("uv.lock").read_text())
    assert {"aiohttp", "kubernetes", "cattrs"} <= {p.name for p in packages}
    assert "hybrid-ingestion-runner" not in {p.name for p in packages}


def test_a_known_vulnerability_fails_and_names_ids_and_fix(
    index: tuple[str, type[Index]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, index[0], capsys)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("VULNERABLE"))
    assert "badlib 1.4: PYSEC-2026-1 (CVE-2026-0001, GHSA-aaaa-bbbb-cccc)" in line
    assert "fixed in: 1.5" in line and "Request smuggling" in line
    # A withdrawn advisory is not a finding; old and unknown packages are not passed silently.
    assert "PYSEC-2025-9" not in out
    assert "not audited: oldlib 0.9 (PyPI's latest is 1.0" in out
    assert "not audited: privatelib 1.0 (not on the index)" in out
    assert "audited 2 of 4 locked packages" in out and "1 known vulnerabilities" in out


def test_an_advisory_ignored_by_alias_passes(
    index: tuple[str, type[Index]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, index[0], capsys, "--ignore", "CVE-2026-0001")
    assert code == 0
    assert "ignored (--ignore): badlib PYSEC-2026-1" in out


def test_an_unreachable_index_means_the_audit_did_not_run(
    index: tuple[str, type[Index]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index[1].broken = True
    code, out = run(tmp_path, index[0], capsys)
    assert code == 2
    assert "lookup failed" in out and "could not run" in out
