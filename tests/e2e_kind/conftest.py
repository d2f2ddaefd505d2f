"""The private engine under test, rooted in the test's own tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.kind.engine import PrivateEngine


@pytest.fixture
def private(tmp_path: Path) -> PrivateEngine:
    return PrivateEngine(root=tmp_path / "d", exec_root=tmp_path / "x")
