"""``hybrid-runner run``: a runner that cannot start says why in one line and exits with 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

TOKEN = "t0ken-must-not-leak"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AGENT_ID": "cli-agent",
        "AUTH_TOKEN": TOKEN,
        "SERVER_URL": f"ws://127.0.0.1:{free_port()}/ws",
        "ALLOW_INSECURE_WS": "true",
        "EXECUTOR_TYPE": "local",
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_SERVER_HOST": "127.0.0.1",
        "METRICS_SERVER_PORT": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "runtime"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("start-up error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().endswith(errors[0])  # the last word, not buried in a log
    for fragment in fragments:
        assert fragment in errors[0]
    assert TOKEN not in result.stderr + result.stdout


def test_argo_without_cluster_credentials(tmp_path: Path) -> None:
    result = run(tmp_path, EXECUTOR_TYPE="argo", KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    assert_one_clear_line(result, "cannot reach Kubernetes", "kubeconfig")


def test_metrics_port_already_in_use(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(tmp_path, METRICS_SERVER_PORT=str(port))
    assert_one_clear_line(result, "METRICS_SERVER_PORT", f"127.0.0.1:{port}", "in use")


def test_unwritable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be (root ignores permissions)")
    result = run(tmp_path, STATE_DIR=str(blocker / "state"))
    assert_one_clear_line(result, "STATE_DIR", "not writable")
