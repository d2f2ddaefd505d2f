"""runtime/devkit/stand_in.py plays the ingestion process on local runs and on the kind
tier's real pods.

The kind tier reads its ``stand-in: env {...}`` line to check what the runner put into a pod,
and uses ``allocateMiB`` to get a pod OOMKilled; scheduled runs start it without a
``pipelineRunId``. If the stand-in misreports or refuses those, the cluster scenarios fail for
the wrong reason. It runs here as a subprocess with an environment built from scratch, as a pod
would start it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.devkit import stand_in

ROOT = Path(__file__).resolve().parents[3]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
QUICK = {"seconds": 0, "lines": 1}  # no waiting between steps


def config(**stand_in_keys: Any) -> dict[str, Any]:
    return {
        "source": {"type": "mysql", "serviceName": "svc"},
        "workflowConfig": {
            "openMetadataServerConfig": {
                "hostPort": "https://om.example/api",
                "secretsManagerProvider": "aws",
                "secretsManagerLoader": "env",
                "securityConfig": {"jwtToken": "do-not-print"},
            }
        },
        "standIn": {**QUICK, **stand_in_keys},
    }


def pod_env(cfg: Any, **extra: str) -> dict[str, str]:
    env = {
        "config": cfg if isinstance(cfg, str) else json.dumps(cfg),
        "pipelineType": "metadata",
        "pipelineRunId": "run-7",
        "ingestionPipelineFQN": "svc.metadata_pipe",
    }
    env.update(extra)
    return env


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Nothing inherited: only what the test names (a pod's environment is the runner's choice).
    return subprocess.run(
        [sys.executable, "-m", "runtime.devkit.stand_in"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def env_line(out: str) -> dict[str, Any]:
    lines = [ln for ln in out.splitlines() if ln.startswith("stand-in: env ")]
    assert len(lines) == 1, out
    shown: dict[str, Any] = json.loads(lines[0].removeprefix("stand-in: env "))
    return shown


# --- the contract ----------------------------------------------------------------------------


def test_a_full_run_prints_start_steps_and_exit() -> None:
    result = run(pod_env(config(lines=2, exitCode=0)))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "stand-in: metadata run run-7 of svc.metadata_pipe",
        "stand-in: step 1/2",
        "stand-in: step 2/2",
        "stand-in: exiting with 0",
    ]


def test_the_exit_code_is_the_configured_one() -> None:
    result = run(pod_env(config(exitCode=3)))

    assert result.returncode == 3
    assert result.stdout.splitlines()[-1] == "stand-in: exiting with 3"


@pytest.mark.parametrize("run_id", [None, ""])
def test_a_scheduled_run_without_a_run_id_makes_one_up(run_id: str | None) -> None:
    env = pod_env(config())
    if run_id is None:
        del env["pipelineRunId"]
    else:
        env["pipelineRunId"] = run_id

    result = run(env)

    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert re.fullmatch(
        rf"stand-in: metadata run {UUID} \(scheduled\) of svc\.metadata_pipe", first
    ), first


def test_a_given_run_id_is_not_called_scheduled() -> None:
    result = run(pod_env(config()))

    assert "(scheduled)" not in result.stdout
    assert result.stdout.splitlines()[0] == "stand-in: metadata run run-7 of svc.metadata_pipe"


@pytest.mark.parametrize("name", stand_in.CONTRACT)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_a_missing_contract_variable_exits_2_naming_it(name: str, how: str) -> None:
    env = pod_env(config())
    if how == "absent":
        del env[name]
    else:
        env[name] = ""

    result = run(env)

    assert result.returncode == 2
    assert result.stdout.splitlines() == [f"stand-in: missing pod contract variables: {name}"]


def test_every_missing_contract_variable_is_named_at_once() -> None:
    result = run({"pipelineRunId": "run-7"})

    assert result.returncode == 2
    assert result.stdout.strip() == (
        "stand-in: missing pod contract variables: config, pipelineType, ingestionPipelineFQN"
    )


def test_pipeline_run_id_is_not_part_of_the_required_contract() -> None:
    assert "pipelineRunId" not in stand_in.CONTRACT
    assert set(stand_in.CONTRACT) == {"config", "pipelineType", "ingestionPipelineFQN"}


def test_a_config_that_is_not_json_exits_2() -> None:
    result = run(pod_env("{not json"))

    assert result.returncode == 2
    assert result.stdout.startswith("stand-in: config is not JSON: ")


def test_a_config_without_stand_in_runs_the_default_behaviour() -> None:
    result = run(pod_env({"source": {}}))

    assert result.returncode == 0
    assert [ln for ln in result.stdout.splitlines() if "step" in ln] == [
        "stand-in: step 1/2",
        "stand-in: step 2/2",
    ]
    assert "stand-in: env" not in result.stdout
    assert "holding" not in result.stdout


# --- "env": true -----------------------------------------------------------------------------


def test_env_prints_one_line_with_the_shown_variables_uid_and_secrets_manager() -> None:
    extra = {
        "KUBERNETES_IN_CLUSTER": "true",
        "KUBERNETES_NAMESPACE": "ingestion",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HOME": "/home/runner",
        "NOT_SHOWN_SECRET": "s3cret",
    }

    result = run(pod_env(config(env=True), **extra))

    assert result.returncode == 0, result.stdout + result.stderr
    assert env_line(result.stdout) == {
        "pipelineType": "metadata",
        "pipelineRunId": "run-7",
        "ingestionPipelineFQN": "svc.metadata_pipe",
        "KUBERNETES_IN_CLUSTER": "true",
        "KUBERNETES_NAMESPACE": "ingestion",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HOME": "/home/runner",
        "uid": os.getuid(),
        "secretsManagerProvider": "aws",
        "secretsManagerLoader": "env",
    }
    # Neither an unlisted variable nor the config (with its token) is printed.
    assert "s3cret" not in result.stdout
    assert "do-not-print" not in result.stdout


def test_env_line_comes_right_after_the_first_line() -> None:
    result = run(pod_env(config(env=True)))

    assert result.stdout.splitlines()[1].startswith("stand-in: env {")


def test_env_omits_absent_variables_and_shows_every_listed_one_present() -> None:
    every = {name: f"value-of-{name}" for name in stand_in.SHOWN}

    result = run(pod_env(config(env=True), **every))

    shown = env_line(result.stdout)
    assert {name: shown[name] for name in stand_in.SHOWN} == every

    del every["pipelineRunId"], every["HOME"]
    env = pod_env(config(env=True), **every)
    del env["pipelineRunId"]
    shown = env_line(run(env).stdout)
    assert "pipelineRunId" not in shown
    assert "HOME" not in shown
    assert shown["AZURE_KEY_VAULT_NAME"] == "value-of-AZURE_KEY_VAULT_NAME"


@pytest.mark.parametrize(
    "workflow",
    [None, {}, {"openMetadataServerConfig": None}, {"openMetadataServerConfig": "x"}, "x"],
)
def test_env_shows_null_secrets_manager_settings_when_the_config_has_none(workflow: Any) -> None:
    cfg: dict[str, Any] = {"standIn": {**QUICK, "env": True}}
    if workflow is not None:
        cfg["workflowConfig"] = workflow

    result = run(pod_env(cfg))

    assert result.returncode == 0, result.stdout + result.stderr
    shown = env_line(result.stdout)
    assert shown["secretsManagerProvider"] is None
    assert shown["secretsManagerLoader"] is None


@pytest.mark.parametrize("value", [False, 0, None])
def test_env_off_prints_no_env_line(value: object) -> None:
    result = run(pod_env(config(env=value)))

    assert "stand-in: env" not in result.stdout


# --- "allocateMiB": N ------------------------------------------------------------------------


@pytest.mark.parametrize("mebibytes", [1, 2])
def test_allocate_mib_holds_that_much_and_says_so(mebibytes: int) -> None:
    result = run(pod_env(config(allocateMiB=mebibytes, env=True)))

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == f"stand-in: holding {mebibytes} MiB"  # after the first and env lines
    assert lines.count(f"stand-in: holding {mebibytes} MiB") == 1
    assert lines[-1] == "stand-in: exiting with 0"


def test_allocate_zero_prints_no_holding_line() -> None:
    result = run(pod_env(config(allocateMiB=0)))

    assert result.returncode == 0
    assert "holding" not in result.stdout


@pytest.mark.parametrize("mebibytes", [0, 1, 2])
def test_allocate_touches_every_page_of_the_block(mebibytes: int) -> None:
    block = stand_in.allocate(mebibytes)

    assert len(block) == mebibytes * 1024 * 1024
    assert block[:: stand_in.PAGE] == b"\x01" * (len(block) // stand_in.PAGE)
    assert sum(block) == len(block) // stand_in.PAGE  # one byte per page, nothing else
