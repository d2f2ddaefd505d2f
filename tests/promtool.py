"""Prometheus' own promtool, for the tests that check the chart's alert rules and the runner's
scrape with it (`promtool test rules`, `promtool check metrics`).

``bash tools/promtool/build.sh`` builds it from the Go module proxy into ~/.cache/hybrid-runner
(.ci/run does). A test that needs it is skipped when it is not built, naming that command;
with ``E2E_REQUIRE=1`` (what CI sets, as for the real-cluster tiers) it fails instead.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[1] / "tools" / "promtool" / "build.sh"


@functools.cache
def _locate() -> tuple[Path | None, str]:
    try:
        found = subprocess.run(
            ["bash", str(BUILD), "--print-path"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot run {BUILD}: {exc}"
    path = Path(found.stdout.strip()) if found.stdout.strip() else None
    if found.returncode == 0 and path is not None:
        return path, ""
    why = found.stderr.strip() or f"{path} does not exist"
    return None, f"promtool is not built ({why}): run `bash tools/promtool/build.sh`"


def promtool() -> Path:
    """The binary, or skip (fail under E2E_REQUIRE) saying how to build it."""
    path, reason = _locate()
    if path is None:
        if os.environ.get("E2E_REQUIRE", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"E2E_REQUIRE is set and {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> tuple[int, str]:
    """Runs promtool; returns its exit code and its stdout + stderr."""
    done = subprocess.run(
        [str(promtool()), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr
