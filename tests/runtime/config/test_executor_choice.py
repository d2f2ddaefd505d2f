"""EXECUTOR_TYPE unset: the Argo mode of Collate's chart means argo, nothing means local."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtime.config.executor_choice import ARGO_MODE_VARIABLES, choose_executor
from runtime.executors import build_executor
from runtime.settings import Settings
from tests.conftest import MESSAGES
from tests.runtime.executors.rendered import workload_of

#: What Collate's chart renders in its Argo mode (installArgoWorkflows: true), executor-wise.
CHART_ARGO_MODE = {
    "PIPELINE_SERVICE_CLIENT_ENDPOINT": "http://argo-workflows-server.argo-workflows.svc:2746",
    "ARGO_TOKEN": "argowf-client-token-value",
    "ARGO_PIPELINE_TYPE_CONFIGS": "",
}
#: ... and in its simple mode.
CHART_SIMPLE_MODE = {"EXECUTOR_TYPE": "simpleK8s", "SIMPLEK8S_PIPELINE_TYPE_CONFIGS": ""}


def test_nothing_set_keeps_the_local_default() -> None:
    settings = Settings.from_env({})
    assert settings.executor_type == "local"
    assert "the default" in settings.executor_reason


def test_the_public_charts_argo_mode_means_argo() -> None:
    settings = Settings.from_env(CHART_ARGO_MODE)
    assert settings.executor_type == "argo"
    assert "PIPELINE_SERVICE_CLIENT_ENDPOINT" in settings.executor_reason


def test_the_public_charts_simple_mode_stays_simplek8s() -> None:
    settings = Settings.from_env(CHART_SIMPLE_MODE)
    assert (settings.executor_type, settings.executor_reason) == (
        "simpleK8s",
        "EXECUTOR_TYPE is set",
    )


@pytest.mark.parametrize("name", ARGO_MODE_VARIABLES)
def test_each_argo_mode_variable_alone_means_argo(name: str) -> None:
    executor, why = choose_executor({name: CHART_ARGO_MODE[name]}, None)
    assert executor == "argo"
    assert f"{name} is" in why


@pytest.mark.parametrize("name", ["PIPELINE_SERVICE_CLIENT_ENDPOINT", "ARGO_TOKEN"])
def test_an_empty_endpoint_or_token_is_no_signal(name: str) -> None:
    assert choose_executor({name: " "}, None)[0] == "local"


def test_executor_type_wins_over_the_signals() -> None:
    for explicit in ("local", "simpleK8s", "argo"):
        settings = Settings.from_env({**CHART_ARGO_MODE, "EXECUTOR_TYPE": explicit})
        assert settings.executor_type == explicit
    blank = Settings.from_env({**CHART_ARGO_MODE, "EXECUTOR_TYPE": " "})
    assert blank.executor_type == "argo"


def test_the_choice_and_its_signal_are_logged_and_the_token_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env({**CHART_ARGO_MODE, "INGESTION_NAMESPACE": "ingestion"})
    with caplog.at_level(logging.INFO, logger="runtime.executors"):
        executor = build_executor(settings)
    assert executor.name == "argo"
    messages = [r.getMessage() for r in caplog.records if r.name == "runtime.executors"]
    assert messages[0].startswith("executor argo: EXECUTOR_TYPE is not set and ")
    assert "PIPELINE_SERVICE_CLIENT_ENDPOINT" in messages[0]
    assert CHART_ARGO_MODE["ARGO_TOKEN"] not in caplog.text
    assert CHART_ARGO_MODE["PIPELINE_SERVICE_CLIENT_ENDPOINT"] not in caplog.text


def test_invoke_dry_run_renders_a_workflow_for_the_argo_mode_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EXECUTOR_TYPE"}
    env.update(CHART_ARGO_MODE)
    env.update(
        INGESTION_IMAGE="registry.example.com/ingestion:om-1.11.1-cl-1.11.1",
        INGESTION_NAMESPACE="ingestion",
        SECRETS_PREFLIGHT="false",
        STATE_DIR=str(tmp_path / "state"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invoke", "--dry-run",
         str(MESSAGES / "run_pipeline.json")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    workflow = workload_of(list(yaml.safe_load_all(result.stdout)))
    assert workflow["kind"] == "Workflow"
    assert "executor argo: EXECUTOR_TYPE is not set" in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["ok"] is True
