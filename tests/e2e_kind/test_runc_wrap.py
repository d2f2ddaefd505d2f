"""e2e/kind/runc_wrap.py sits between dockerd and runc for every container of the kind tier.

A mistake there either keeps the capability that makes runc fail ("unable to apply caps") or
corrupts the OCI JSON runc reads, and both only show up as a kind cluster that will not start.
These tests pin the rewriting on real files, the bounding-set parsing and the argv handed to the
real runc, with ``os.execv`` replaced so nothing is executed.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from e2e.kind import runc_wrap

ALL = {"CAP_" + name for name in runc_wrap.CAPABILITIES}
WITHOUT_SYS_RESOURCE = ALL - {"CAP_SYS_RESOURCE"}
KINDS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def caps(*names: str) -> dict[str, list[str]]:
    return {kind: list(names) for kind in KINDS}


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def bundle(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write(
        directory / "config.json",
        {
            "ociVersion": "1.1.0",
            "process": {"args": ["/sbin/init"], "capabilities": caps(*names)},
            "root": {"path": "rootfs"},
        },
    )


def process_file(path: Path, *names: str) -> Path:
    return write(path, {"args": ["sh", "-c", "true"], "cwd": "/", "capabilities": caps(*names)})


# --- strip -----------------------------------------------------------------------------------


def test_strip_removes_disallowed_caps_from_every_set_of_a_bundle(tmp_path: Path) -> None:
    path = bundle(tmp_path, "CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN")

    runc_wrap.strip(str(path), bundle=True, allowed=WITHOUT_SYS_RESOURCE)

    doc = json.loads(path.read_text())
    assert doc["process"]["capabilities"] == caps("CAP_CHOWN", "CAP_SYS_ADMIN")
    # The rest of the bundle survives the rewrite.
    assert doc["process"]["args"] == ["/sbin/init"]
    assert doc["root"] == {"path": "rootfs"}
    assert doc["ociVersion"] == "1.1.0"


def test_strip_removes_disallowed_caps_from_an_exec_process_json(tmp_path: Path) -> None:
    path = process_file(tmp_path / "process.json", "CAP_SYS_RESOURCE", "CAP_KILL")

    runc_wrap.strip(str(path), bundle=False, allowed=WITHOUT_SYS_RESOURCE)

    doc = json.loads(path.read_text())
    assert doc["capabilities"] == caps("CAP_KILL")
    assert doc["args"] == ["sh", "-c", "true"]


def test_strip_keeps_the_order_of_the_remaining_caps(tmp_path: Path) -> None:
    path = process_file(tmp_path / "p.json", "CAP_SYS_TIME", "CAP_SYS_RESOURCE", "CAP_CHOWN")

    runc_wrap.strip(str(path), bundle=False, allowed={"CAP_SYS_TIME", "CAP_CHOWN"})

    assert json.loads(path.read_text())["capabilities"]["bounding"] == [
        "CAP_SYS_TIME",
        "CAP_CHOWN",
    ]


def test_strip_only_touches_the_sets_that_hold_a_disallowed_cap(tmp_path: Path) -> None:
    doc = {
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
            "effective": ["CAP_CHOWN"],
        }
    }
    path = write(tmp_path / "p.json", doc)

    runc_wrap.strip(str(path), bundle=False, allowed=WITHOUT_SYS_RESOURCE)

    assert json.loads(path.read_text())["capabilities"] == {
        "bounding": ["CAP_CHOWN"],
        "effective": ["CAP_CHOWN"],
    }


@pytest.mark.parametrize("is_bundle", [True, False])
def test_strip_leaves_the_file_byte_for_byte_when_every_cap_is_allowed(
    tmp_path: Path, is_bundle: bool
) -> None:
    # Indented JSON: a rewrite (json.dump without indent) would change the bytes.
    doc: dict[str, Any] = {"capabilities": caps("CAP_CHOWN", "CAP_SYS_ADMIN")}
    if is_bundle:
        doc = {"process": doc}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc, indent=4))
    before = path.read_bytes()

    runc_wrap.strip(str(path), bundle=is_bundle, allowed=ALL)

    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "doc",
    [
        {"ociVersion": "1.1.0"},  # no process
        {"process": None},
        {"process": {"args": ["x"]}},  # no capabilities
        {"process": {"capabilities": None}},
    ],
)
def test_strip_leaves_a_bundle_without_capabilities_alone(
    tmp_path: Path, doc: dict[str, Any]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc, indent=2))
    before = path.read_bytes()

    runc_wrap.strip(str(path), bundle=True, allowed=set())

    assert path.read_bytes() == before


def test_strip_ignores_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "config.json"

    runc_wrap.strip(str(path), bundle=True, allowed=set())

    assert not path.exists()


@pytest.mark.parametrize("text", ["", "{not json", '{"process": {"capabilities": '])
def test_strip_leaves_invalid_json_for_runc_to_report(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)

    runc_wrap.strip(str(path), bundle=True, allowed=set())

    assert path.read_text() == text


def test_strip_leaves_an_unreadable_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bundle(tmp_path, "CAP_SYS_RESOURCE")
    before = path.read_bytes()
    opened: list[str] = []

    def denied(file: str, *args: Any, **kwargs: Any) -> Any:
        # chmod 0 would not stop root, who runs these tests in CI: refuse every open instead.
        opened.append(file)
        raise PermissionError(13, "Permission denied", file)

    monkeypatch.setattr(runc_wrap, "open", denied, raising=False)

    runc_wrap.strip(str(path), bundle=True, allowed=set())

    assert opened == [str(path)]  # one read attempt, no write
    assert path.read_bytes() == before


def test_strip_of_a_directory_path_does_not_raise(tmp_path: Path) -> None:
    # open() of a directory raises IsADirectoryError, an OSError: left for runc to report.
    runc_wrap.strip(str(tmp_path), bundle=True, allowed=set())

    assert list(tmp_path.iterdir()) == []


# --- bounding_set ----------------------------------------------------------------------------


def test_capability_table_is_the_kernels_0_to_40_without_duplicates() -> None:
    assert len(runc_wrap.CAPABILITIES) == 41
    assert len(set(runc_wrap.CAPABILITIES)) == 41
    # Spot checks against include/uapi/linux/capability.h.
    assert runc_wrap.CAPABILITIES.index("CHOWN") == 0
    assert runc_wrap.CAPABILITIES.index("SYS_ADMIN") == 21
    assert runc_wrap.CAPABILITIES.index("SYS_RESOURCE") == 24
    assert runc_wrap.CAPABILITIES.index("AUDIT_READ") == 37
    assert runc_wrap.CAPABILITIES.index("CHECKPOINT_RESTORE") == 40


def test_bounding_set_of_this_process_is_a_set_of_known_cap_names() -> None:
    allowed = runc_wrap.bounding_set()

    assert isinstance(allowed, set)
    assert allowed
    assert all(name.startswith("CAP_") for name in allowed)
    assert allowed <= ALL


def test_bounding_set_matches_this_process_capbnd_line() -> None:
    line = next(
        ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("CapBnd:")
    )
    mask = int(line.split()[1], 16)
    expected = {f"CAP_{name}" for bit, name in enumerate(runc_wrap.CAPABILITIES) if mask >> bit & 1}

    assert runc_wrap.bounding_set() == expected


def fake_status(monkeypatch: pytest.MonkeyPatch, capbnd: str) -> None:
    status = f"Name:\tpython3\nCapInh:\t0000000000000000\nCapBnd:\t{capbnd}\nCapAmb:\t0\n"

    def fake_open(path: str, *args: Any, **kwargs: Any) -> io.StringIO:
        assert path == "/proc/self/status"
        return io.StringIO(status)

    # The module's own global shadows the builtin for bounding_set() only.
    monkeypatch.setattr(runc_wrap, "open", fake_open, raising=False)


def test_bounding_set_decodes_a_complete_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_status(monkeypatch, "000001ffffffffff")

    assert runc_wrap.bounding_set() == ALL


def test_bounding_set_decodes_a_mask_missing_sys_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_status(monkeypatch, "000001fffeffffff")  # what the project's CI machines report

    assert runc_wrap.bounding_set() == WITHOUT_SYS_RESOURCE


def test_bounding_set_decodes_low_bits_and_ignores_unknown_high_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_status(monkeypatch, "ffff800000000005")  # bits 0, 2 and 47..63 (no such caps)

    assert runc_wrap.bounding_set() == {"CAP_CHOWN", "CAP_DAC_READ_SEARCH"}


def test_bounding_set_of_an_empty_mask_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_status(monkeypatch, "0000000000000000")

    assert runc_wrap.bounding_set() == set()


# --- main ------------------------------------------------------------------------------------


class Exec:
    """Stands in for os.execv: records the call instead of replacing the test process."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, path: str, argv: list[str]) -> None:
        self.calls.append((path, list(argv)))


@pytest.fixture
def execv(monkeypatch: pytest.MonkeyPatch) -> Exec:
    recorder = Exec()
    monkeypatch.setattr(os, "execv", recorder)
    return recorder


@pytest.fixture
def missing_sys_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runc_wrap, "bounding_set", lambda: set(WITHOUT_SYS_RESOURCE))


def stripped(path: Path, *, is_bundle: bool) -> dict[str, list[str]]:
    doc = json.loads(path.read_text())
    result: dict[str, list[str]] = (doc["process"] if is_bundle else doc)["capabilities"]
    return result


@pytest.mark.usefixtures("missing_sys_resource")
@pytest.mark.parametrize("form", ["--bundle", "-b", "--bundle="])
def test_main_rewrites_the_bundle_and_execs_runc_with_the_same_argv(
    tmp_path: Path, execv: Exec, form: str
) -> None:
    directory = tmp_path / "bundle"
    config = bundle(directory, "CAP_CHOWN", "CAP_SYS_RESOURCE")
    flag = [f"--bundle={directory}"] if form == "--bundle=" else [form, str(directory)]
    args = ["--root", "/run/runc", "create", *flag, "--pid-file", "/tmp/pid", "ctr-1"]

    runc_wrap.main(list(args))

    assert execv.calls == [(runc_wrap.REAL_RUNC, [runc_wrap.REAL_RUNC, *args])]
    assert stripped(config, is_bundle=True) == caps("CAP_CHOWN")


@pytest.mark.usefixtures("missing_sys_resource")
@pytest.mark.parametrize("form", ["--process", "-p", "--process="])
def test_main_rewrites_the_exec_process_and_execs_runc_with_the_same_argv(
    tmp_path: Path, execv: Exec, form: str
) -> None:
    process = process_file(tmp_path / "process.json", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN")
    flag = [f"--process={process}"] if form == "--process=" else [form, str(process)]
    args = ["exec", "--detach", *flag, "ctr-1"]

    runc_wrap.main(list(args))

    assert execv.calls == [(runc_wrap.REAL_RUNC, [runc_wrap.REAL_RUNC, *args])]
    assert stripped(process, is_bundle=False) == caps("CAP_NET_ADMIN")


@pytest.mark.usefixtures("missing_sys_resource")
def test_main_rewrites_both_a_bundle_and_a_process_named_in_one_call(
    tmp_path: Path, execv: Exec
) -> None:
    config = bundle(tmp_path / "b", "CAP_SYS_RESOURCE", "CAP_KILL")
    process = process_file(tmp_path / "p.json", "CAP_SYS_RESOURCE", "CAP_KILL")

    runc_wrap.main(["run", "-b", str(tmp_path / "b"), "-p", str(process), "ctr"])

    assert stripped(config, is_bundle=True) == caps("CAP_KILL")
    assert stripped(process, is_bundle=False) == caps("CAP_KILL")
    assert len(execv.calls) == 1


@pytest.mark.usefixtures("missing_sys_resource")
def test_main_passes_commands_without_a_bundle_or_process_straight_through(
    tmp_path: Path, execv: Exec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a stray relative config.json would be read from here
    config = bundle(tmp_path, "CAP_SYS_RESOURCE")
    before = config.read_bytes()
    args = ["--root", "/run/runc", "state", "ctr-1"]

    runc_wrap.main(list(args))

    assert execv.calls == [(runc_wrap.REAL_RUNC, [runc_wrap.REAL_RUNC, *args])]
    assert config.read_bytes() == before


def test_main_rewrites_nothing_when_the_bounding_set_is_complete(
    tmp_path: Path, execv: Exec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runc_wrap, "bounding_set", lambda: set(ALL))
    # A name outside every bounding set: strip() would drop it, so an untouched file proves
    # main() did not call strip() at all.
    config = bundle(tmp_path / "b", "CAP_CHOWN", "CAP_NOT_A_CAPABILITY")
    process = process_file(tmp_path / "p.json", "CAP_NOT_A_CAPABILITY")
    before = (config.read_bytes(), process.read_bytes())
    args = ["create", "--bundle", str(tmp_path / "b"), "--process", str(process), "ctr"]

    runc_wrap.main(list(args))

    assert (config.read_bytes(), process.read_bytes()) == before
    assert execv.calls == [(runc_wrap.REAL_RUNC, [runc_wrap.REAL_RUNC, *args])]


@pytest.mark.usefixtures("missing_sys_resource")
def test_main_execs_runc_even_when_the_named_bundle_is_missing(tmp_path: Path, execv: Exec) -> None:
    args = ["create", "--bundle", str(tmp_path / "nowhere"), "ctr"]

    runc_wrap.main(list(args))

    assert execv.calls == [(runc_wrap.REAL_RUNC, [runc_wrap.REAL_RUNC, *args])]


@pytest.mark.usefixtures("missing_sys_resource")
def test_main_execs_the_real_runc_path_the_engine_wrote_in(
    tmp_path: Path, execv: Exec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runc_wrap, "REAL_RUNC", "/opt/elsewhere/runc")

    runc_wrap.main(["--version"])

    assert execv.calls == [("/opt/elsewhere/runc", ["/opt/elsewhere/runc", "--version"])]
