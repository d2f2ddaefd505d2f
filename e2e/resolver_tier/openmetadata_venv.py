"""OpenMetadata's ingestion package in a virtual environment of its own, cached and keyed.

The resolver tier (e2e/resolver_tier/test_openmetadata_resolver.py) runs OpenMetadata's own secrets
code on what the runner produces. `openmetadata-ingestion` cannot live in the project's environment
(its pins conflict with ours) and its full dependency set cannot install here at all (one dependency
downloads from GitHub at build time), so it is installed without its dependencies plus what its
models and secrets code import: the list is `e2e/images/openmetadata/requirements/`, one file per
pip step, and the OpenMetadata-like image of the kind tier installs the same files.

The venv lives in `~/.cache/hybrid-runner/openmetadata-venv/<key>` (`HYBRID_RUNNER_CACHE`
overrides the root), `<key>` a digest of the requirement files and the Python version: a change
to the list makes a new venv, an unchanged list reuses the old one. It is built in a temporary
folder and renamed into place once every step and an import check passed, so a half-built venv
is never used. By hand::

    uv run python -m e2e.resolver_tier.openmetadata_venv         # build if missing, print python
    uv run python -m e2e.resolver_tier.openmetadata_venv --print # only print (exit 1: not built)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUIREMENTS = Path(__file__).parents[1] / "images" / "openmetadata" / "requirements"
#: The first step installs without dependencies; every other step with them.
NO_DEPS_STEP = "1-no-deps.txt"
#: What the tier imports: a venv that cannot import these is not finished.
IMPORT_CHECK = (
    "import metadata.generated.schema.metadataIngestion.workflow, "
    "metadata.generated.schema.entity.automations.workflow, "
    "metadata.utils.secrets.secrets_manager_factory"
)


class VenvError(RuntimeError):
    """The venv could not be built (a pip step or the import check failed)."""


def cache_root() -> Path:
    root = os.environ.get("HYBRID_RUNNER_CACHE") or str(Path.home() / ".cache" / "hybrid-runner")
    return Path(root) / "openmetadata-venv"


def requirement_files() -> list[Path]:
    return sorted(REQUIREMENTS.glob("*.txt"))


def pinned_version(package: str = "openmetadata-ingestion") -> str:
    """The version of ``package`` pinned in the requirement files."""
    for path in requirement_files():
        for line in path.read_text().splitlines():
            name, sep, version = line.strip().partition("==")
            if sep and name.strip().lower() == package:
                return version.strip()
    raise LookupError(f"{package} is not pinned in {REQUIREMENTS}")


def key() -> str:
    digest = hashlib.sha256(f"python {sys.version_info[:2]}\n".encode())
    for path in requirement_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return (
        f"om-{pinned_version()}-py{sys.version_info[0]}{sys.version_info[1]}-"
        + (digest.hexdigest()[:12])
    )


def venv_dir() -> Path:
    return cache_root() / key()


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def find_python() -> Path | None:
    """The built venv's interpreter, or None when it is not built for the current list."""
    python = python_of(venv_dir())
    return python if python.is_file() else None


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise VenvError(f"`{' '.join(cmd)}` exited {done.returncode}; log {log}:\n{tail}")


def build(progress: bool = False) -> Path:
    """Build the venv unless it exists; return its interpreter. Safe to call concurrently."""
    if (python := find_python()) is not None:
        return python
    target = venv_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    log = target.parent / f"{target.name}.log"
    log.write_text("")
    started = time.monotonic()
    try:
        # The base interpreter, not the project's venv: nothing of ours leaks into it.
        _run([sys.executable, "-m", "venv", str(work)], log)
        pip = [str(python_of(work)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        for path in requirement_files():
            extra = ["--no-deps"] if path.name == NO_DEPS_STEP else []
            if progress:
                print(f"openmetadata venv: pip install -r {path.name}", file=sys.stderr)
            _run([*pip, *extra, "-r", str(path)], log)
        _run([str(python_of(work)), "-c", IMPORT_CHECK], log)
        (work / "build-seconds.txt").write_text(f"{time.monotonic() - started:.0f}\n")
        # Only `python -m pip` is used, never the scripts in bin/ (they hold the old path).
        try:
            work.rename(target)
        except OSError:  # another process finished first
            if find_python() is None:
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    python = find_python()
    if python is None:
        raise VenvError(f"{target} is incomplete after the build; log {log}")
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print the python path only")
    args = parser.parse_args(argv)
    if args.print:
        python = find_python()
        if python is None:
            print(f"not built: {venv_dir()}", file=sys.stderr)
            return 1
        print(python)
        return 0
    started = time.monotonic()
    try:
        python = build(progress=True)
    except VenvError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"openmetadata venv ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
