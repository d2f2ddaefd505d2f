"""Settings.from_env: defaults, parsing, and a message naming the variable for every bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.composition import check_backends
from runtime.config.backends import EXECUTOR_TYPES, SECRETS_MANAGERS
from runtime.settings import VARIABLES, Settings
from runtime.wire.errors import ConfigError
from tests.backend_names import NO_SUCH_EXECUTOR, NO_SUCH_STORE

BASE = {"AGENT_ID": "a", "AUTH_TOKEN": "t0ken-value", "SERVER_URL": "wss://example.test/ws"}


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.executor_type == "local"
    assert settings.secrets_manager == "kubernetes"
    assert settings.metrics_port == 8989
    assert settings.metrics_path == "/metrics"
    assert settings.dynamic_ingestion_version is True
    assert settings.pipeline_command == ("python", "main.py")


def test_run_requires_the_connection_variables() -> None:
    for missing in ("AGENT_ID", "AUTH_TOKEN", "SERVER_URL"):
        env = {k: v for k, v in BASE.items() if k != missing}
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(env, require_server=True)
        assert caught.value.variable == missing


def test_auth_token_file_stands_in_for_auth_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("jwt-from-a-file\n")
    env = {k: v for k, v in BASE.items() if k != "AUTH_TOKEN"}
    settings = Settings.from_env({**env, "AUTH_TOKEN_FILE": str(token)}, require_server=True)
    assert settings.auth_token_file == str(token)
    absent = {**env, "AUTH_TOKEN_FILE": str(tmp_path / "absent")}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(absent, require_server=True)
    assert caught.value.variable == "AUTH_TOKEN_FILE"
    assert str(tmp_path / "absent") in caught.value.problem
    # Only `run` reads the token: the harness and dry runs do not need the file.
    assert Settings.from_env(absent).auth_token_file == str(tmp_path / "absent")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, require_server=True)
    assert caught.value.variable == "AUTH_TOKEN"
    assert "AUTH_TOKEN_FILE" in caught.value.problem


def test_capacity_defaults_and_values() -> None:
    default = Settings.from_env(BASE)
    assert (default.max_active_runs, default.max_active_runs_per_type) == (0, {})
    assert default.run_timeout_seconds == 6 * 3600
    assert (default.image_pull_grace, default.unschedulable_grace) == (120, 900)
    given = Settings.from_env(
        {
            **BASE,
            "MAX_ACTIVE_RUNS": "10",
            "MAX_ACTIVE_RUNS_PER_TYPE": '{"profiler": 2, "automation": 5}',
            "RUN_TIMEOUT_SECONDS": "0",
            "UNSCHEDULABLE_GRACE_SECONDS": "0",
        }
    )
    assert given.max_active_runs == 10
    assert given.max_active_runs_per_type == {"profiler": 2, "automation": 5}
    assert (given.run_timeout_seconds, given.unschedulable_grace) == (0, 0)


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "EXECUTOR_TYPE": "simpleK8s",
            "RECONNECT_DELAY_SECONDS": "0.5",
            "METRICS_SERVER_PORT": "9100",
            "INGESTION_IMAGE_PULL_SECRETS": "a, b,,c",
            "INGESTION_EXTRA_ENVS": "A=1,B=x=y",
            "LOCAL_PIPELINE_COMMAND": "python -m 'my module'",
            "DYNAMIC_INGESTION_VERSION_ENABLED": "False",
            "LOG_LEVEL": "debug",
            "AWS_REGION": "eu-west-1",
            "ARGO_PIPELINE_TYPE_CONFIGS": '{"metadata": {"toleration": "metadata"}}',
        },
        require_server=True,
    )
    assert settings.executor_type == "simpleK8s"
    assert settings.reconnect_delay == 0.5
    assert settings.metrics_port == 9100
    assert settings.ingestion_image_pull_secrets == ("a", "b", "c")
    assert settings.ingestion_extra_envs == {"A": "1", "B": "x=y"}
    assert settings.local_pipeline_command == ("python", "-m", "my module")
    assert settings.dynamic_ingestion_version is False
    assert settings.log_level == "DEBUG"
    assert settings.aws_region == "eu-west-1"
    assert settings.argo_pipeline_type_configs == {"metadata": {"toleration": "metadata"}}
    assert Settings.from_env({"INGESTION_EXTRA_ENVS": '{"K": "v"}'}).ingestion_extra_envs == {
        "K": "v"
    }
    collate_form = Settings.from_env({"INGESTION_EXTRA_ENVS": "[A:1, B:http://x]"})
    assert collate_form.ingestion_extra_envs == {"A": "1", "B": "http://x"}


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        # The message lists every declared name: a new backend needs no edit here.
        ("EXECUTOR_TYPE", "kubernetes", ", ".join(EXECUTOR_TYPES)),
        ("SECRETS_MANAGER", NO_SUCH_STORE, ", ".join(SECRETS_MANAGERS)),
        ("RECONNECT_DELAY_SECONDS", "soon", "number of seconds"),
        ("RECONNECT_DELAY_SECONDS", "-1", "positive"),
        ("RECONNECT_DELAY_SECONDS", "nan", "positive"),
        ("METRICS_SERVER_PORT", "70000", "between 0 and 65535"),
        ("METRICS_SERVER_PORT", "http", "integer"),
        ("ALLOW_INSECURE_WS", "maybe", "true or false"),
        ("SERVER_URL", "example.com", "wss://"),
        ("ARGO_PIPELINE_TYPE_CONFIGS", '{"metadata": ', "line 1 column"),
        ("SIMPLEK8S_PIPELINE_TYPE_CONFIGS", "[1]", "JSON object"),
        ("INGESTION_EXTRA_ENVS", "NOEQUALS", "KEY=VALUE"),
        ("INGESTION_EXTRA_ENVS", '{"K": 1}', "strings"),
        ("LOCAL_PIPELINE_COMMAND", "python 'unclosed", "command line"),
        ("LOG_FORMAT", "xml", "text, json"),
        ("MAX_FRAME_BYTES", "10", "between"),
        ("METRICS_SERVER_PATH", "metrics", "start with '/'"),
        ("SERVER_CA_FILE", "/no/such/ca.pem", "no such file"),
        ("INGESTION_RUN_AS_USER", "openmetadata", "integer"),
        ("INGESTION_RUN_AS_USER", "-1", "between 0 and"),
        ("INGESTION_RUN_AS_USER", "1000.5", "integer"),
        ("INGESTION_RUN_AS_GROUP", "-5", "between 0 and"),
        ("INGESTION_RUN_AS_GROUP", "staff", "integer"),
        ("INGESTION_FS_GROUP", "4294967296", "between 0 and"),
        ("INGESTION_FS_GROUP", "1e3", "integer"),
        ("INGESTION_RUN_AS_NON_ROOT", "sometimes", "true or false"),
        ("INGESTION_DISABLE_VERSION_VALIDATION", "disabled", "true or false"),
        ("MAX_ACTIVE_RUNS", "-1", "between 0 and"),
        ("MAX_ACTIVE_RUNS", "ten", "integer"),
        ("MAX_ACTIVE_RUNS_PER_TYPE", '{"Profiler": 2}', "did you mean 'profiler'"),
        ("MAX_ACTIVE_RUNS_PER_TYPE", '{"profiler": 0}', "$.profiler: expected a positive"),
        ("MAX_ACTIVE_RUNS_PER_TYPE", '{"profiler": "2"}', "positive integer"),
        ("MAX_ACTIVE_RUNS_PER_TYPE", "[2]", "JSON object"),
        ("RUN_TIMEOUT_SECONDS", "6h", "integer"),
        ("RUN_TIMEOUT_SECONDS", "-5", "between 0 and"),
        ("IMAGE_PULL_GRACE_SECONDS", "2m", "integer"),
        ("UNSCHEDULABLE_GRACE_SECONDS", "-1", "between 0 and"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, variable: value})
    assert caught.value.variable == variable
    assert fragment in str(caught.value)


def test_plain_ws_is_refused_unless_allowed() -> None:
    env = {**BASE, "SERVER_URL": "ws://127.0.0.1:1/ws"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == "SERVER_URL"
    assert Settings.from_env({**env, "ALLOW_INSECURE_WS": "true"}).server_url.startswith("ws://")


def test_https_server_url_dials_wss() -> None:
    settings = Settings.from_env({**BASE, "SERVER_URL": "https://acme.example/ws"})
    assert settings.websocket_url == "wss://acme.example/ws"


def test_azure_needs_a_vault_name() -> None:
    with pytest.raises(ConfigError) as caught:
        check_backends(Settings.from_env({**BASE, "SECRETS_MANAGER": "managed-azure-kv"}))
    assert caught.value.variable == "AZURE_KEY_VAULT_NAME"


def test_the_token_is_not_in_the_repr() -> None:
    settings = Settings.from_env(BASE)
    assert "t0ken-value" not in repr(settings)


def test_every_variable_is_unique_and_documented() -> None:
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names))
    assert all(v.doc for v in VARIABLES)


def test_bad_environment_stops_start_up_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime"],
        env={**BASE, "EXECUTOR_TYPE": NO_SUCH_EXECUTOR, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "EXECUTOR_TYPE" in result.stderr
    assert "t0ken-value" not in result.stderr + result.stdout


def test_reconnect_ceiling_follows_a_raised_first_delay_unless_set() -> None:
    assert Settings.from_env({"RECONNECT_DELAY_SECONDS": "120"}).reconnect_max_delay == 120
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"RECONNECT_DELAY_SECONDS": "120", "RECONNECT_MAX_DELAY_SECONDS": "60"})
    assert caught.value.variable == "RECONNECT_MAX_DELAY_SECONDS"


# ---------------------------------------------------------------- ingestion pod security context


def test_ingestion_pods_run_as_the_openmetadata_user_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.ingestion_run_as_user == 1000
    assert settings.ingestion_run_as_group == 1000
    assert settings.ingestion_fs_group == 1000
    assert settings.ingestion_run_as_non_root is True


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("INGESTION_RUN_AS_USER", "ingestion_run_as_user"),
        ("INGESTION_RUN_AS_GROUP", "ingestion_run_as_group"),
        ("INGESTION_FS_GROUP", "ingestion_fs_group"),
    ],
)
def test_each_ingestion_id_is_set_alone_and_blank_unsets_it(variable: str, field: str) -> None:
    others = {"ingestion_run_as_user", "ingestion_run_as_group", "ingestion_fs_group"} - {field}
    settings = Settings.from_env({variable: " 2000 "})
    assert getattr(settings, field) == 2000
    assert {getattr(settings, f) for f in others} == {1000}
    for blank in ("", "  "):
        settings = Settings.from_env({variable: blank})
        assert getattr(settings, field) is None, "empty means: leave it to the platform"
        assert {getattr(settings, f) for f in others} == {1000}


def test_openshift_environment_sets_no_ids() -> None:
    settings = Settings.from_env(
        {"INGESTION_RUN_AS_USER": "", "INGESTION_RUN_AS_GROUP": "", "INGESTION_FS_GROUP": ""}
    )
    assert settings.ingestion_run_as_user is None
    assert settings.ingestion_run_as_group is None
    assert settings.ingestion_fs_group is None
    assert settings.ingestion_run_as_non_root is True


def test_root_images_need_run_as_non_root_off() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"INGESTION_RUN_AS_USER": "0"})
    assert caught.value.variable == "INGESTION_RUN_AS_USER"
    assert "INGESTION_RUN_AS_NON_ROOT" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"INGESTION_RUN_AS_USER": "0", "INGESTION_RUN_AS_NON_ROOT": "true"})
    assert caught.value.variable == "INGESTION_RUN_AS_USER"
    root = Settings.from_env({"INGESTION_RUN_AS_USER": "0", "INGESTION_RUN_AS_NON_ROOT": "false"})
    assert root.ingestion_run_as_user == 0
    assert root.ingestion_run_as_non_root is False
    # Group 0 is not root: only the user id decides.
    assert Settings.from_env({"INGESTION_RUN_AS_GROUP": "0"}).ingestion_run_as_group == 0


def test_blank_run_as_non_root_keeps_the_default() -> None:
    assert Settings.from_env({"INGESTION_RUN_AS_NON_ROOT": ""}).ingestion_run_as_non_root is True
    assert Settings.from_env({"INGESTION_RUN_AS_NON_ROOT": "no"}).ingestion_run_as_non_root is False


@pytest.mark.parametrize(
    ("raw", "disabled"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("", False)],
)
def test_disable_version_validation_reads_what_the_public_chart_renders(
    raw: str, disabled: bool
) -> None:
    """The public chart renders ``disableVersionValidation`` quoted when it is truthy."""
    settings = Settings.from_env({"INGESTION_DISABLE_VERSION_VALIDATION": raw})
    assert settings.ingestion_disable_version_validation is disabled
    assert Settings.from_env({}).ingestion_disable_version_validation is False


def test_a_bad_version_validation_value_stops_start_up_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime"],
        env={**BASE, "INGESTION_DISABLE_VERSION_VALIDATION": "sure", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "INGESTION_DISABLE_VERSION_VALIDATION" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("executor", ["argo", "simpleK8s"])
def test_kubernetes_secrets_need_the_service_account_token_in_ingestion_pods(
    executor: str,
) -> None:
    env = {"EXECUTOR_TYPE": executor, "INGESTION_AUTOMOUNT_SA_TOKEN": "false"}
    with pytest.raises(ConfigError) as caught:
        check_backends(Settings.from_env(env))
    assert caught.value.variable == "INGESTION_AUTOMOUNT_SA_TOKEN"
    assert "SECRETS_MANAGER=kubernetes" in str(caught.value)
    # Another store, or no pods at all, has no use for the token.
    Settings.from_env({**env, "SECRETS_MANAGER": "managed-aws"})
    Settings.from_env({**env, "EXECUTOR_TYPE": "local"})
