"""e2e/resolver_tier/openmetadata_venv.py: the OpenMetadata venv is keyed by its package list and
never used half-built (the build itself is exercised by the resolver tier,
e2e/resolver_tier/test_openmetadata_resolver.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from e2e.resolver_tier import openmetadata_venv

DOCKERFILE = openmetadata_venv.REQUIREMENTS.parents[1] / "openmetadata-ingestion.Dockerfile"


def test_the_image_and_the_venv_install_the_same_files_in_the_same_steps() -> None:
    files = [p.name for p in openmetadata_venv.requirement_files()]
    assert files[0] == openmetadata_venv.NO_DEPS_STEP
    text = DOCKERFILE.read_text()
    assert "--no-deps -r /tmp/om-requirements/1-no-deps.txt" in text
    positions = [text.index(f"-r /tmp/om-requirements/{name}") for name in files]
    assert positions == sorted(positions)
    assert openmetadata_venv.pinned_version() == "2.0.7.0"


def test_a_change_to_the_package_list_makes_a_new_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "requirements"
    shutil.copytree(openmetadata_venv.REQUIREMENTS, copy)
    monkeypatch.setattr(openmetadata_venv, "REQUIREMENTS", copy)
    monkeypatch.setenv("HYBRID_RUNNER_CACHE", str(tmp_path / "cache"))
    before = openmetadata_venv.venv_dir()
    assert before.parent == tmp_path / "cache" / "openmetadata-venv"
    assert before.name.startswith("om-2.0.7.0-py3")
    assert openmetadata_venv.venv_dir() == before  # stable for the same list
    (copy / "4-stores.txt").write_text((copy / "4-stores.txt").read_text() + "six==1.17.0\n")
    assert openmetadata_venv.venv_dir() != before


def test_a_venv_without_its_interpreter_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_RUNNER_CACHE", str(tmp_path))
    assert openmetadata_venv.find_python() is None
    assert openmetadata_venv.main(["--print"]) == 1
    # A build interrupted before its rename leaves only a dot-folder: still not built.
    (openmetadata_venv.venv_dir().parent / f".{openmetadata_venv.key()}-x" / "bin").mkdir(
        parents=True
    )
    assert openmetadata_venv.find_python() is None
