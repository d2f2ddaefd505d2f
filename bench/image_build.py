"""The runner image: its size, its layers, and how long a cold build, a rebuild with nothing
changed and a rebuild after a one-line code change take (target: <= 200 MB on python:3.11-slim).

Builds the repository's Dockerfile the way `just image` does (e2e/kind/images.py): on
python:3.11-slim where it can be pulled, else on the Python stand-in base from Debian packages
in the kind tier's private engine (root and Debian's docker.io needed). The code change is made
in a copy of the build context, never in the repository. Without a Docker engine the result
records why nothing was measured.

    uv run python -m bench.image_build
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench._common import ROOT, write_result
from e2e.kind import engine, images

TAG = "hybrid-ingestion-runner:bench"
CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "runtime",
    "handlers",
)


def timed_build(context: Path, python_image: str | None, host: bool, *extra: str) -> float:
    image = images.Image(TAG, context / "Dockerfile", context)
    built = images.build(image, python_image, host_network=host, extra=extra)
    return built.seconds


def layer_sizes(tag: str) -> list[dict[str, Any]]:
    return [{"bytes": size, "step": step} for size, step in images.layers(tag) if size]


def measure(python_image: str | None, host: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        for name in CONTEXT:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, context / name, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(source, context / name)
        cold = timed_build(context, python_image, host, "--no-cache")
        unchanged = timed_build(context, python_image, host)
        with (context / "runtime" / "__init__.py").open("a") as f:
            f.write("# a one-line change, to time the rebuild it causes\n")
        code_change = timed_build(context, python_image, host)
    base = python_image or images.OFFICIAL_PYTHON
    return {
        "measured": True,
        "base": base,
        "base_is_official": python_image is None,
        "size_bytes": images.size_of(TAG),
        "base_bytes": images.size_of(base),
        "layers": layer_sizes(TAG),
        "cold_s": cold,
        "unchanged_s": unchanged,
        "code_change_s": code_change,
        "target_mb_on_slim": 200,
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__).add_argument("--quick", action="store_true")
    private = engine.PrivateEngine()
    started = False
    try:
        if images.official_base_available():
            python_image, host = None, False
        else:
            started = private.start()
            os.environ.update(private.env())
            python_image, host = images.offline_python_image(), True
        data = measure(python_image, host)
    except (engine.EngineError, RuntimeError, OSError, subprocess.CalledProcessError) as e:
        data = {"measured": False, "reason": str(e)[:500]}
    finally:
        if started:
            private.stop()
    write_result("image_build", data)


if __name__ == "__main__":
    main()
