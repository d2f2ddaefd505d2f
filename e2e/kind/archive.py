"""Packs locally built images into one docker archive that `kind build node-image` takes as built.

kind's node image build (``--type file``) wants every image kubeadm lists, the containerd sandbox
image and kind's own CNI and storage images; whatever is not in one of the release tarball's four
image archives it fetches with ``ctr content fetch`` inside its build container, which cannot
work offline. Which images an archive holds kind reads with ``GetArchiveTags``
(``pkg/build/nodeimage/internal/container/docker/archive.go`` in kind v0.33.0): from the first of
``manifest.json`` / ``repositories`` in the tar, and from ``manifest.json`` only the first entry's
tags, compared as plain strings with fully qualified names (``docker.io/kindest/kindnetd:...``).
``docker save`` writes short names (``kindest/kindnetd:...``) and puts ``manifest.json`` first.

So this rewrites ``docker save``'s archive: every name fully qualified, in ``manifest.json`` (which
``ctr images import`` reads) and in a ``repositories`` file written first (which kind reads).

Usage: ``python -m e2e.kind.archive OUT.tar IMAGE...`` (DOCKER_HOST chooses the engine).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def qualified(ref: str) -> str:
    """``kindest/kindnetd:v1`` -> ``docker.io/kindest/kindnetd:v1``, as containerd names it."""
    name, _, tag = ref.rpartition(":")
    first = name.split("/", 1)[0]
    if "." not in first and ":" not in first and first != "localhost":
        name = ("docker.io/" if "/" in name else "docker.io/library/") + name
    return f"{name}:{tag}"


def rewrite(manifest: list[dict[str, object]]) -> dict[str, dict[str, str]]:
    """Qualifies the manifest's tags in place; returns the ``repositories`` mapping."""
    repositories: dict[str, dict[str, str]] = {}
    for entry in manifest:
        tags = [qualified(str(t)) for t in entry.get("RepoTags") or []]  # type: ignore[attr-defined]
        entry["RepoTags"] = tags
        # "Config" is "<digest>.json" (Docker 20) or "blobs/sha256/<digest>" (Docker 25+).
        config_id = Path(str(entry["Config"])).name.removesuffix(".json")
        for tag in tags:
            repo, _, version = tag.rpartition(":")
            repositories.setdefault(repo, {})[version] = config_id
    return repositories


def craft(out: Path, images: list[str]) -> dict[str, dict[str, str]]:
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        raw, tree = Path(tmp) / "raw.tar", Path(tmp) / "tree"
        subprocess.run(["docker", "save", "-o", str(raw), *images], check=True)
        with tarfile.open(raw) as tar:
            tar.extractall(tree, filter="tar")
        raw.unlink()
        manifest = json.loads((tree / "manifest.json").read_text())
        repositories = rewrite(manifest)
        (tree / "manifest.json").write_text(json.dumps(manifest))
        (tree / "repositories").write_text(json.dumps(repositories))
        partial = out.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(tree / "repositories", "repositories")
            tar.add(tree / "manifest.json", "manifest.json")
            for child in sorted(tree.iterdir()):
                if child.name not in ("repositories", "manifest.json"):
                    tar.add(child, child.name)
        shutil.move(partial, out)
    return repositories


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    repositories = craft(Path(argv[0]).resolve(), argv[1:])
    for repo, tags in sorted(repositories.items()):
        print(" ".join(f"{repo}:{tag}" for tag in sorted(tags)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
