"""e2e/kind/archive.py decides whether ``kind build node-image`` counts the tier's images as built.

kind compares the archive's tags with fully qualified names and reads ``repositories`` only when
it is the tar's first member; a short name or a wrong order makes kind try to fetch the image,
which fails offline long after the archive was written. These tests pin the name
qualification, the ``repositories`` mapping for both ``docker save`` layouts and the rewritten
tar, with ``docker save`` replaced by a small fake archive (no Docker needed).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from e2e.kind import archive

CONFIG_HEX = hashlib.sha256(b"config").hexdigest()
LAYER_HEX = hashlib.sha256(b"layer").hexdigest()
OTHER_LAYER_HEX = hashlib.sha256(b"other layer").hexdigest()


# --- qualified -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("kindest/kindnetd:v20250512", "docker.io/kindest/kindnetd:v20250512"),
        ("kindest/local-path-provisioner:v1", "docker.io/kindest/local-path-provisioner:v1"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("hybrid-runner:dev", "docker.io/library/hybrid-runner:dev"),
        ("a/b/c:1", "docker.io/a/b/c:1"),
        # Already qualified or on another registry: a dot or a port in the first segment.
        ("docker.io/kindest/kindnetd:v1", "docker.io/kindest/kindnetd:v1"),
        ("docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/coredns/coredns:v1.11.3"),
        ("quay.io/argoproj/argocli:v3.6", "quay.io/argoproj/argocli:v3.6"),
        ("myregistry:5000/team/app:2", "myregistry:5000/team/app:2"),
        ("localhost:5000/app:2", "localhost:5000/app:2"),
        ("localhost/app:2", "localhost/app:2"),
    ],
)
def test_qualified_names_images_as_containerd_does(ref: str, expected: str) -> None:
    assert archive.qualified(ref) == expected


def test_qualified_is_idempotent() -> None:
    for ref in ("busybox:1", "kindest/kindnetd:v1", "registry.k8s.io/pause:3.10"):
        once = archive.qualified(ref)
        assert archive.qualified(once) == once


def test_qualified_keeps_a_tag_that_contains_dots_and_dashes() -> None:
    assert archive.qualified("kindest/node:v1.33.1-rc.0") == "docker.io/kindest/node:v1.33.1-rc.0"


# --- rewrite ---------------------------------------------------------------------------------


def test_rewrite_qualifies_tags_in_place_for_the_docker_20_layout() -> None:
    manifest: list[dict[str, object]] = [
        {
            "Config": f"{CONFIG_HEX}.json",
            "RepoTags": ["kindest/kindnetd:v1", "busybox:1.36"],
            "Layers": [f"{LAYER_HEX}/layer.tar"],
        }
    ]

    repositories = archive.rewrite(manifest)

    assert manifest[0]["RepoTags"] == [
        "docker.io/kindest/kindnetd:v1",
        "docker.io/library/busybox:1.36",
    ]
    assert manifest[0]["Layers"] == [f"{LAYER_HEX}/layer.tar"]  # untouched
    assert repositories == {
        "docker.io/kindest/kindnetd": {"v1": CONFIG_HEX},
        "docker.io/library/busybox": {"1.36": CONFIG_HEX},
    }


def test_rewrite_reads_the_config_id_of_the_docker_25_layout() -> None:
    manifest: list[dict[str, object]] = [
        {"Config": f"blobs/sha256/{CONFIG_HEX}", "RepoTags": ["registry.k8s.io/pause:3.10"]}
    ]

    repositories = archive.rewrite(manifest)

    assert repositories == {"registry.k8s.io/pause": {"3.10": CONFIG_HEX}}
    assert manifest[0]["RepoTags"] == ["registry.k8s.io/pause:3.10"]


def test_rewrite_merges_the_tags_of_one_repository_across_entries() -> None:
    other = hashlib.sha256(b"other config").hexdigest()
    manifest: list[dict[str, object]] = [
        {"Config": f"{CONFIG_HEX}.json", "RepoTags": ["kindest/kindnetd:v1"]},
        {"Config": f"blobs/sha256/{other}", "RepoTags": ["kindest/kindnetd:v2", "app:dev"]},
    ]

    repositories = archive.rewrite(manifest)

    assert repositories == {
        "docker.io/kindest/kindnetd": {"v1": CONFIG_HEX, "v2": other},
        "docker.io/library/app": {"dev": other},
    }


@pytest.mark.parametrize("tags", [None, []])
def test_rewrite_of_an_untagged_image_gives_no_repository(tags: list[str] | None) -> None:
    entry: dict[str, object] = {"Config": f"{CONFIG_HEX}.json"}
    if tags is not None:
        entry["RepoTags"] = tags
    manifest = [entry]

    assert archive.rewrite(manifest) == {}
    assert manifest[0]["RepoTags"] == []


# --- craft -----------------------------------------------------------------------------------


def add(tar: tarfile.TarFile, name: str, data: bytes | None = None, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 1_700_000_000
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
    elif data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))


def docker20_members(tags: list[str]) -> list[tuple[str, bytes | None, str]]:
    """What Docker 20's ``docker save`` writes, manifest.json first as kind's comment says."""
    manifest = [
        {
            "Config": f"{CONFIG_HEX}.json",
            "RepoTags": tags,
            "Layers": [f"{LAYER_HEX}/layer.tar", f"{OTHER_LAYER_HEX}/layer.tar"],
        }
    ]
    short = {tag.rpartition(":")[0]: {tag.rpartition(":")[2]: LAYER_HEX} for tag in tags}
    return [
        ("manifest.json", json.dumps(manifest).encode(), ""),
        (f"{CONFIG_HEX}.json", b'{"architecture": "amd64", "os": "linux"}', ""),
        (f"{LAYER_HEX}", None, ""),
        (f"{LAYER_HEX}/VERSION", b"1.0", ""),
        (f"{LAYER_HEX}/json", b'{"id": "layer"}', ""),
        (f"{LAYER_HEX}/layer.tar", b"layer bytes " * 100, ""),
        (f"{OTHER_LAYER_HEX}", None, ""),
        (f"{OTHER_LAYER_HEX}/layer.tar", None, f"../{LAYER_HEX}/layer.tar"),
        ("repositories", json.dumps(short).encode(), ""),  # short names: kind would miss them
    ]


def docker25_members(tags: list[str]) -> list[tuple[str, bytes | None, str]]:
    """Docker 25+'s OCI layout with the legacy manifest.json beside it."""
    manifest = [
        {
            "Config": f"blobs/sha256/{CONFIG_HEX}",
            "RepoTags": tags,
            "Layers": [f"blobs/sha256/{LAYER_HEX}"],
        }
    ]
    return [
        ("manifest.json", json.dumps(manifest).encode(), ""),
        ("blobs", None, ""),
        ("blobs/sha256", None, ""),
        (f"blobs/sha256/{CONFIG_HEX}", b'{"architecture": "amd64"}', ""),
        (f"blobs/sha256/{LAYER_HEX}", b"layer bytes " * 100, ""),
        ("index.json", b'{"schemaVersion": 2, "manifests": []}', ""),
        ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', ""),
    ]


class FakeDockerSave:
    """Replaces subprocess.run: writes the given members to ``docker save -o``'s path."""

    def __init__(self, members: list[tuple[str, bytes | None, str]]) -> None:
        self.members = members
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(cmd))
        assert cmd[:3] == ["docker", "save", "-o"]
        assert kwargs.get("check") is True
        with tarfile.open(cmd[3], "w") as tar:
            for name, data, link in self.members:
                add(tar, name, data, link)
        return subprocess.CompletedProcess(cmd, 0)


def install(monkeypatch: pytest.MonkeyPatch, members: list[Any]) -> FakeDockerSave:
    fake = FakeDockerSave(members)
    monkeypatch.setattr(subprocess, "run", fake)
    return fake


def read_members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def read_json(path: Path, name: str) -> Any:
    with tarfile.open(path) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return json.load(extracted)


def read_bytes(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


TAGS = ["kindest/kindnetd:v1", "busybox:1.36", "registry.k8s.io/pause:3.10"]
QUALIFIED = [
    "docker.io/kindest/kindnetd:v1",
    "docker.io/library/busybox:1.36",
    "registry.k8s.io/pause:3.10",
]


@pytest.mark.parametrize("layout", [docker20_members, docker25_members])
def test_craft_writes_repositories_first_then_manifest_and_keeps_every_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: Any
) -> None:
    members = layout(TAGS)
    fake = install(monkeypatch, members)
    out = tmp_path / "out" / "images.tar"
    out.parent.mkdir()

    repositories = archive.craft(out, ["kindest/kindnetd:v1", "busybox:1.36"])

    ((*save, raw, image1, image2),) = fake.calls
    assert (save, image1, image2) == (["docker", "save", "-o"], *TAGS[:2])
    # The raw archive goes to a scratch directory next to the output (same file system).
    assert Path(raw).parent.parent == out.parent
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names[:2] == ["repositories", "manifest.json"]
    assert names.count("repositories") == 1
    assert names.count("manifest.json") == 1
    assert set(names) == {name for name, _, _ in members} | {"repositories"}

    manifest = read_json(out, "manifest.json")
    assert manifest[0]["RepoTags"] == QUALIFIED
    expected = {
        "docker.io/kindest/kindnetd": {"v1": CONFIG_HEX},
        "docker.io/library/busybox": {"1.36": CONFIG_HEX},
        "registry.k8s.io/pause": {"3.10": CONFIG_HEX},
    }
    assert read_json(out, "repositories") == expected
    assert repositories == expected


@pytest.mark.parametrize("layout", [docker20_members, docker25_members])
def test_craft_copies_every_other_member_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: Any
) -> None:
    members = layout(TAGS)
    install(monkeypatch, members)
    out = tmp_path / "images.tar"

    archive.craft(out, ["busybox:1.36"])

    written = read_members(out)
    for name, data, link in members:
        if name in ("manifest.json", "repositories"):
            continue
        info = written[name]
        if link:
            assert info.issym() and info.linkname == link, name
        elif data is None:
            assert info.isdir(), name
        else:
            assert info.isfile(), name
            assert read_bytes(out, name) == data, name


def test_craft_leaves_only_the_archive_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, docker20_members(TAGS))
    out = tmp_path / "images.tar"

    archive.craft(out, ["busybox:1.36"])

    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.tar"]  # no .partial, no tmp


def test_craft_replaces_an_earlier_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, docker25_members(["busybox:1.36"]))
    out = tmp_path / "images.tar"
    out.write_bytes(b"stale")

    archive.craft(out, ["busybox:1.36"])

    assert read_json(out, "repositories") == {"docker.io/library/busybox": {"1.36": CONFIG_HEX}}


def test_craft_writes_nothing_when_docker_save_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(cmd: list[str], **kwargs: Any) -> None:
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(subprocess, "run", failing)
    out = tmp_path / "images.tar"

    with pytest.raises(subprocess.CalledProcessError):
        archive.craft(out, ["busybox:1.36"])

    assert list(tmp_path.iterdir()) == []


# --- main ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["out.tar"]])
def test_main_without_images_prints_the_usage_and_returns_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert archive.main(argv) == 2
    assert capsys.readouterr().err.strip().startswith("Usage: ")


def test_main_prints_every_qualified_tag_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(monkeypatch, docker20_members([*TAGS, "kindest/kindnetd:v0"]))
    monkeypatch.chdir(tmp_path)

    assert archive.main(["images.tar", "busybox:1.36"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "docker.io/kindest/kindnetd:v0 docker.io/kindest/kindnetd:v1",
        "docker.io/library/busybox:1.36",
        "registry.k8s.io/pause:3.10",
    ]
    assert (tmp_path / "images.tar").is_file()  # the relative path, resolved against the cwd
