"""The OpenMetadata-like test image's entrypoints (e2e/images/openmetadata/), without the image.

openmetadata-ingestion is not in the project's venv: these tests cover the scripts' own logic
(config text, detection of a reference OpenMetadata did not resolve, the output lines, the exit
codes) and that the scripts load without it. The image itself is checked by building and running
it (see the Dockerfile), and on real pods by the kind tier.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

SCRIPTS = Path(__file__).parents[2] / "e2e" / "images" / "openmetadata"


def load(name: str) -> ModuleType:
    """Load one of the scripts as the image runs them: their folder first on sys.path."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f"om_image_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sc() -> ModuleType:
    return load("secret_check")


class FakeSecret:
    """Stands for OpenMetadata's CustomSecretStr: stored text, and what the manager gives."""

    def __init__(self, raw: str, resolved: str | None = None) -> None:
        self.raw = raw
        self.resolved = raw if resolved is None else resolved

    def get_secret_value(self, skip_secret_manager: bool = False) -> str:
        return self.raw if skip_secret_manager else self.resolved


def test_openmetadata_is_not_needed_to_load_the_scripts() -> None:
    assert importlib.util.find_spec("metadata") is None  # the premise of this file
    for name in ("secret_check", "main", "run_automation"):
        load(name)


@pytest.mark.parametrize(
    "text",
    [
        '{"source": {"type": "mysql"}, "workflowConfig": {}}',
        "source:\n  type: mysql\nworkflowConfig: {}\n",
    ],
)
def test_config_is_json_or_yaml_text(sc: ModuleType, text: str) -> None:
    assert sc.load_config_text(text) == {"source": {"type": "mysql"}, "workflowConfig": {}}


@pytest.mark.parametrize("text", [None, "", "  \n", "[1, 2]", "just text", "a: [unclosed"])
def test_config_that_is_missing_or_not_a_mapping_is_refused(sc: ModuleType, text: str) -> None:
    with pytest.raises(sc.ConfigError):
        sc.load_config_text(text)


@pytest.mark.parametrize(
    ("resolved", "errors", "expected"),
    [
        ("secret:mysql-password", ("store said no",), "literal reference (store said no)"),
        ("", (), "empty value"),
        ("mysql-password", (), "bare id"),
        (None, ("secrets manager: ConfigException: Service host/port is not set.",), "port"),
        (None, (), "raised"),
    ],
)
def test_a_reference_openmetadata_did_not_resolve_is_detected(
    sc: ModuleType, resolved: str | None, errors: tuple[str, ...], expected: str
) -> None:
    reason = sc.unresolved_reason("secret:mysql-password", sc.Resolution(resolved, errors))
    assert reason is not None
    assert expected in reason


def test_a_resolved_reference_is_not_flagged(sc: ModuleType) -> None:
    assert sc.unresolved_reason("secret:/db/pw", sc.Resolution("s3cr3t")) is None
    # OpenMetadata strips every `secret:`, so the id of this one is "/db/pw", not the value.
    assert sc.unresolved_reason("secret:/db/pw", sc.Resolution("/db/pw")) is not None


def test_success_line_names_identity_store_reference_and_digest_never_the_value(
    sc: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", "/home/openmetadata")
    monkeypatch.chdir(tmp_path)
    code, line = sc.report("kubernetes", "env", "secret:mysql-password", sc.Resolution("s3cr3t"))
    assert code == 0
    digest = hashlib.sha256(b"s3cr3t").hexdigest()
    assert re.fullmatch(
        rf"openmetadata-check: uid=\d+ home=/home/openmetadata cwd={re.escape(str(tmp_path))} "
        rf"provider=kubernetes loader=env reference=secret:mysql-password sha256={digest}",
        line,
    )
    assert "s3cr3t" not in line


def test_plain_password_prints_its_digest_with_no_reference(sc: ModuleType) -> None:
    code, line = sc.report("db", "noop", "plain-pass", sc.Resolution("plain-pass"))
    assert code == 0
    assert " reference=none " in line
    assert line.endswith(f"sha256={hashlib.sha256(b'plain-pass').hexdigest()}")
    assert "plain-pass" not in line


def test_unresolved_reference_exits_3_naming_it(sc: ModuleType) -> None:
    resolution = sc.Resolution("secret:mysql-password", ("not found",))
    code, line = sc.report("kubernetes", "env", "secret:mysql-password", resolution)
    assert code == 3
    assert line.startswith(
        "openmetadata-check: secret reference secret:mysql-password did not resolve: "
    )


def test_plain_password_is_never_printed_when_the_manager_fails(sc: ModuleType) -> None:
    resolution = sc.Resolution(None, ("secrets manager: ConfigException: no cluster",))
    code, line = sc.report("kubernetes", "env", "plain-pass", resolution)
    assert code == 3
    assert "no cluster" in line
    assert "plain-pass" not in line


def test_openmetadata_log_errors_become_the_reason(sc: ModuleType) -> None:
    with sc.openmetadata_errors() as errors:
        logging.getLogger("metadata.Utils").error("Secret value [%s] not present", "x")
        logging.getLogger("metadata.Utils").info("Getting secret value for x")
        logging.getLogger("elsewhere").error("not OpenMetadata's")
    logging.getLogger("metadata.Utils").error("after the block")
    assert errors == ["Secret value [x] not present"]


def test_check_prints_the_line_and_returns_the_code(
    sc: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = SimpleNamespace(value="kubernetes")  # OpenMetadata's enums: their .value
    seen: list[Any] = []

    def fake_resolve(p: Any, loader: Any, secret: FakeSecret) -> Any:
        seen.append((p, loader))
        return sc.Resolution(secret.get_secret_value())

    monkeypatch.setattr(sc, "resolve", fake_resolve)
    assert sc.check(provider, None, FakeSecret("secret:pw", "s3cr3t")) == 0
    assert seen == [(provider, None)]
    out = capsys.readouterr().out
    assert "provider=kubernetes loader=none reference=secret:pw " in out
    assert sc.check(provider, None, FakeSecret("secret:pw", "")) == 3
    assert "secret reference secret:pw did not resolve" in capsys.readouterr().out
    assert sc.check(provider, None, None) == 2


def test_a_refused_config_never_echoes_its_values(
    sc: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Auth(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        model_config = pydantic.ConfigDict(extra="forbid")
        password: int

    with pytest.raises(pydantic.ValidationError) as info:
        Auth.model_validate({"password": "hunter2", "passw0rd": "hunter3"})
    assert sc.config_failure(info.value) == 2
    err = capsys.readouterr().err
    assert "config refused: 2 validation error(s): password:" in err
    assert "hunter" not in err


def test_password_paths_follow_openmetadata_models(sc: ModuleType) -> None:
    main, automation = load("main"), load("run_automation")
    secret = FakeSecret("secret:pw")
    workflow = SimpleNamespace(
        source=SimpleNamespace(
            serviceConnection=SimpleNamespace(
                root=SimpleNamespace(
                    config=SimpleNamespace(authType=SimpleNamespace(password=secret))
                )
            )
        )
    )
    assert sc.attribute_path(workflow, *main.PASSWORD) is secret
    request = SimpleNamespace(
        request=SimpleNamespace(
            connection=SimpleNamespace(
                config=SimpleNamespace(authType=SimpleNamespace(password=secret))
            )
        )
    )
    assert sc.attribute_path(request, *automation.PASSWORD) is secret
    assert sc.attribute_path(SimpleNamespace(request=None), *automation.PASSWORD) is None


@pytest.mark.parametrize("script", ["main", "run_automation"])
def test_entrypoints_without_config_exit_2(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("config", raising=False)
    assert load(script).main() == 2
    assert "`config` is missing" in capsys.readouterr().err
