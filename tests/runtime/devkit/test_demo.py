"""README's first command: the demo runs end to end and says so."""

from __future__ import annotations

import subprocess
import sys


def test_demo_succeeds_and_prints_a_transcript() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in (
        "test_connection",
        "run_pipeline",
        "kill (long run)",
        "unknown message type",
        "/metrics",
    ):
        assert f"ok   {step}" in out
    assert "queued -> running -> success" in out
    assert out.strip().splitlines()[-1].startswith("demo OK")
