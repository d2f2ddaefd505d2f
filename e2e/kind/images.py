"""The images users and the kind tier run: the runner (the repo's Dockerfile) and the ingestion
test images, built the same way by `just image` and by the kind tier's session.

Where ``python:3.11-slim`` can be pulled (a normal Docker installation), the Dockerfile is built
as it stands. Where it cannot (no registry: the project's CI machines), the kind tier's private
engine (engine.py) builds it on the Python stand-in base that ``e2e/kind/build.sh`` makes from
Debian packages, passed through the Dockerfile's ``PYTHON_IMAGE`` build argument, with the host
network for the steps that reach PyPI (that engine makes no NAT rules).

CLI (``just image``): ``python -m e2e.kind.images [--tag TAG]`` builds the runner image and
prints its size, its layers and the build time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from e2e.kind import engine

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_PYTHON = "python:3.11-slim"
RUNNER_TAG = "hybrid-ingestion-runner:0.1.0"


@dataclass(frozen=True)
class Image:
    """One image to build: its tag, Dockerfile and context (the repository root)."""

    tag: str
    dockerfile: Path
    context: Path = REPO


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    size: int


def runner(tag: str = RUNNER_TAG) -> Image:
    return Image(tag, REPO / "Dockerfile")


def stand_in(tag: str = "hybrid-runner-e2e/ingestion-stand-in:e2e") -> Image:
    return Image(tag, REPO / "e2e" / "images" / "ingestion-stand-in.Dockerfile")


def openmetadata(tag: str = "hybrid-runner-e2e/openmetadata-ingestion:e2e") -> Image:
    """Built like OpenMetadata's ingestion image: named user, OpenMetadata's secrets code."""
    return Image(tag, REPO / "e2e" / "images" / "openmetadata-ingestion.Dockerfile")


def docker(*args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args[:3])} ... exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def size_of(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).strip())


def build(
    image: Image, python_image: str | None, *, host_network: bool, extra: tuple[str, ...] = ()
) -> Built:
    """``docker build`` with the legacy builder (works where buildx is missing)."""
    args = ["build", "-t", image.tag, "-f", str(image.dockerfile), *extra]
    if python_image:
        args += ["--build-arg", f"PYTHON_IMAGE={python_image}"]
    if host_network:
        args += ["--network", "host"]
    start = time.monotonic()
    docker(*args, str(image.context), env={"DOCKER_BUILDKIT": "0"})
    return Built(image.tag, round(time.monotonic() - start, 1), size_of(image.tag))


def layers(tag: str) -> list[tuple[int, str]]:
    """(bytes, instruction) per layer, newest first, as ``docker history`` lists them."""
    out = docker("history", "--no-trunc", "--format", "{{json .}}", tag)
    rows = []
    for line in out.splitlines():
        row = json.loads(line)
        rows.append((_bytes(row.get("Size", "0B")), str(row.get("CreatedBy", ""))[:110]))
    return rows


def _bytes(text: str) -> int:
    units = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * units[unit])
    return 0


def offline_python_image() -> str:
    """The Python stand-in base of the kind tier's build (built now if it is missing)."""
    subprocess.run(["bash", str(REPO / "e2e" / "kind" / "build.sh"), "python-base"], check=True)
    out = subprocess.run(
        ["bash", str(REPO / "e2e" / "kind" / "build.sh"), "--print-python-image"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def official_base_available() -> bool:
    """True when python:3.11-slim is in the default engine or can be pulled into it."""
    if not engine.default_engine_usable():
        return False
    try:
        docker("image", "inspect", OFFICIAL_PYTHON, timeout=30)
        return True
    except RuntimeError:
        pass
    try:
        docker("pull", OFFICIAL_PYTHON, timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the runner image (`just image`).")
    parser.add_argument("--tag", default=RUNNER_TAG)
    args = parser.parse_args(argv)
    started = False
    private = engine.PrivateEngine()
    if official_base_available():
        python_image, host_network = None, False
        print(f"building on {OFFICIAL_PYTHON} with the default Docker engine")
    else:
        print(f"{OFFICIAL_PYTHON} cannot be pulled: building on a stand-in from Debian packages")
        started = private.start()
        os.environ.update(private.env())
        python_image, host_network = offline_python_image(), True
    try:
        built = build(runner(args.tag), python_image, host_network=host_network)
        base = size_of(python_image or OFFICIAL_PYTHON)
        print(f"{built.tag}: {built.size / 1e6:.1f} MB ({(built.size - base) / 1e6:.1f} MB over")
        print(
            f"  the base {python_image or OFFICIAL_PYTHON}, {base / 1e6:.1f} MB), {built.seconds} s"
        )
        for size, step in layers(built.tag):
            if size:
                print(f"  {size / 1e6:8.1f} MB  {step}")
        if python_image:
            print(f"  in the private engine: export DOCKER_HOST={private.host}")
    finally:
        if started:
            private.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
