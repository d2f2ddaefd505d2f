"""Start-up runs each backend's check before it builds anything (docs/handlers.md): a bad
executor- or store-specific setting stops ``build_runner`` and ``hybrid-runner run`` with a
message naming the variable, and the backend is never built."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry

from runtime import cli
from runtime.composition import build_runner
from runtime.settings import Settings
from runtime.wire.errors import ConfigError
from tests.runtime.test_backends import NOMAD, NOMAD_TYPE, NomadExecutor, register_executor

#: What ``hybrid-runner run`` requires besides the backends' own variables.
SERVER = {
    "AGENT_ID": "agent-1",
    "AUTH_TOKEN": "t0ken",
    "SERVER_URL": "wss://collate.example/ws",
    "STATE_DIR": "",
}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Registers ``nomad``, whose check refuses ARGO_SECONDS_AFTER_COMPLETION_TTL=0; the list
    records each time it is built."""
    calls: list[Settings] = []

    def build(settings: Settings) -> Any:
        calls.append(settings)
        return NomadExecutor(settings)

    register_executor(monkeypatch, NOMAD_TYPE, attrs.evolve(NOMAD, build=build))
    return calls


def test_build_runner_runs_the_executors_check_first(built: list[Settings]) -> None:
    settings = Settings.from_env(
        {"EXECUTOR_TYPE": "nomad", "ARGO_SECONDS_AFTER_COMPLETION_TTL": "0"}
    )
    with pytest.raises(ConfigError) as caught:
        build_runner(settings, registry=CollectorRegistry())
    assert caught.value.variable == "ARGO_SECONDS_AFTER_COMPLETION_TTL"
    assert built == []


def test_the_cli_stops_naming_the_executors_variable(
    built: list[Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli, "configure", lambda *_args: None)
    monkeypatch.setattr(cli, "export_environment", lambda _settings: None)
    for name, value in {
        **SERVER,
        "EXECUTOR_TYPE": "nomad",
        "ARGO_SECONDS_AFTER_COMPLETION_TTL": "0",
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: ARGO_SECONDS_AFTER_COMPLETION_TTL")
    assert built == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        # The executor's check: placement per pipeline type.
        (
            {"EXECUTOR_TYPE": "simpleK8s", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS": '{"nosuch": {}}'},
            "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
        ),
        # The store's check: Azure needs its vault.
        (
            {"EXECUTOR_TYPE": "local", "SECRETS_MANAGER": "managed-azure-kv"},
            "AZURE_KEY_VAULT_NAME",
        ),
    ],
)
def test_the_runner_process_stops_naming_the_backends_variable(
    env: dict[str, str], variable: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime"],
        env={**SERVER, **env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert f"configuration error: {variable}" in result.stderr
    assert "Traceback" not in result.stderr
