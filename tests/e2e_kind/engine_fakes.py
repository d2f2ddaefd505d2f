"""Fakes for the private engine's tests (tests/e2e_kind/test_engine*.py): ``shutil.which``,
``engine._run`` and the calls that must not happen, so no ``ip``, docker or signal runs for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest

from e2e.kind import engine

REAL_WHICH = shutil.which


def fake_which(
    monkeypatch: pytest.MonkeyPatch, found: dict[str, str | None]
) -> list[tuple[str, Any]]:
    """``shutil.which`` answering from ``found``, the real one for any other name."""
    asked: list[tuple[str, Any]] = []

    def which(name: str, mode: int = os.F_OK | os.X_OK, path: Any = None) -> str | None:
        asked.append((name, path))
        if name in found:
            return found[name]
        return REAL_WHICH(name, mode, path)

    monkeypatch.setattr("e2e.kind.engine.shutil.which", which)
    return asked


class FakeRun:
    """Replaces engine._run: records each command and answers with a chosen return code."""

    def __init__(self, codes: dict[str, int] | None = None, stderr: str = "") -> None:
        self.codes = codes or {}
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(cmd))
        code = self.codes.get(" ".join(cmd), 0)
        return subprocess.CompletedProcess(cmd, code, "", self.stderr if code else "")


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Makes engine.<name> fail the test when called (docker, dockerd, ip must not run)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected call: {args!r}")

    for name in names:
        target: Any = subprocess if name == "Popen" else engine
        monkeypatch.setattr(target, name, refuse)
