"""The chart behind an egress proxy: the proxy keys become the runner's variables, its
credentials come only from a Secret, the token is a refreshed file, the server's CA a mounted
ConfigMap; and what the chart gives the runner is what the runner's pods then get."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from runtime.settings import Settings
from tests.helm.helmkit import (
    MINIMAL,
    TOKEN,
    fullname,
    merge,
    render,
    runner_settings,
    validate_objects,
    with_env_token,
)
from tests.runtime.executors.rendered import workload_of

PEM = "-----BEGIN CERTIFICATE-----\nMIIBcorporate\n-----END CERTIFICATE-----\n"
PROXY: dict[str, Any] = {
    "proxy": {
        "httpsProxy": "http://proxy.corp:3128",
        "httpProxy": "http://proxy.corp:3128",
        "noProxy": [".corp.example", "10.0.0.0/8"],
        "existingSecret": "corp-proxy",
        "serviceCIDR": "10.96.0.0/12",
    }
}
MESSAGES = Path(__file__).parents[1] / "messages"


def test_the_proxy_keys_become_the_runners_variables(tmp_path: Path) -> None:
    rendered = render(merge(MINIMAL, PROXY))
    validate_objects(rendered)
    env = rendered.env_values
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://proxy.corp:3128"
    assert env["NO_PROXY"] == ".corp.example,10.0.0.0/8"
    assert env["KUBERNETES_SERVICE_CIDR"] == "10.96.0.0/12"
    assert env["PROXY_CREDENTIALS_SECRET"] == "corp-proxy"
    for name, key in (("PROXY_USERNAME", "username"), ("PROXY_PASSWORD", "password")):
        assert rendered.env[name] == {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": "corp-proxy", "key": key}},
        }
    # Pods get the proxy by default: nothing to say.
    assert "INGESTION_PROXY_ENABLED" not in env
    settings = runner_settings(rendered, tmp_path)
    assert settings.https_proxy == "http://proxy.corp:3128"
    assert settings.no_proxy == (".corp.example", "10.0.0.0/8")
    assert settings.ingestion_proxy is True


def test_strings_and_the_pods_switch() -> None:
    values = merge(
        MINIMAL,
        {"proxy": {"httpsProxy": "proxy.corp:3128", "noProxy": "a.example, b.example"}},
        {"proxy": {"serviceCIDR": ["10.96.0.0/12", "fd00:10:96::/112"], "ingestionPods": False}},
    )
    env = render(values).env_values
    assert env["NO_PROXY"] == "a.example, b.example"
    assert env["KUBERNETES_SERVICE_CIDR"] == "10.96.0.0/12,fd00:10:96::/112"
    assert env["INGESTION_PROXY_ENABLED"] == "false"
    assert "PROXY_USERNAME" not in env and "HTTP_PROXY" not in env
    settings = Settings.from_env(with_env_token(env), require_server=True)
    assert settings.https_proxy == "http://proxy.corp:3128"
    assert settings.ingestion_proxy is False


def test_no_proxy_key_no_proxy_variable() -> None:
    env = render(MINIMAL).env
    assert not set(env) & {"HTTPS_PROXY", "NO_PROXY", "PROXY_USERNAME", "SERVER_CA_FILE"}


@pytest.mark.parametrize(
    ("config", "secret"),
    [
        ({}, {"name": fullname(), "key": "authToken"}),
        (
            {"authToken": "", "authTokenSecret": {"name": "collate-bot", "key": "jwt"}},
            {"name": "collate-bot", "key": "jwt"},
        ),
    ],
)
def test_the_token_is_a_mounted_directory_the_kubelet_refreshes(
    config: dict[str, Any], secret: dict[str, str], tmp_path: Path
) -> None:
    rendered = render(merge(MINIMAL, {"config": config}))
    validate_objects(rendered)
    # token_secret checks: a directory mount (no subPath), AUTH_TOKEN_FILE inside, no AUTH_TOKEN.
    assert rendered.token_secret == secret
    assert runner_settings(rendered, tmp_path).auth_token_file == str(tmp_path / "token")
    _, mount = rendered.volume("auth-token")
    assert mount["mountPath"] == "/etc/hybrid-runner/token"


def test_a_users_own_auth_token_still_works() -> None:
    own = {
        "extraEnvs": [
            {"name": "AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mine", "key": "t"}}}
        ]
    }
    for values in (merge(MINIMAL, own), merge(MINIMAL, own, {"config": {"authToken": ""}})):
        rendered = render(values)
        assert rendered.env["AUTH_TOKEN"] == own["extraEnvs"][0]
        assert "AUTH_TOKEN_FILE" not in rendered.env
        assert "auth-token" not in [v["name"] for v in rendered.pod["spec"]["volumes"]]


def test_the_servers_ca_from_values_is_a_mounted_config_map(tmp_path: Path) -> None:
    rendered = render(merge(MINIMAL, {"config": {"serverCA": PEM}}))
    validate_objects(rendered)
    config_map = rendered.one("ConfigMap", f"{fullname()}-server-ca")
    assert config_map["data"] == {"ca.crt": PEM}
    volume, mount = rendered.volume("server-ca")
    assert volume["configMap"] == {"name": f"{fullname()}-server-ca"}
    assert "subPath" not in mount
    assert rendered.env_values["SERVER_CA_FILE"] == f"{mount['mountPath']}/ca.crt"
    # The runner checks the file exists at start-up: give it where the volume would be.
    (tmp_path / "ca.crt").write_text(PEM)
    env = {**with_env_token(rendered.env_values), "SERVER_CA_FILE": str(tmp_path / "ca.crt")}
    Settings.from_env(env, require_server=True)


def test_the_servers_ca_from_an_existing_config_map() -> None:
    values = merge(
        MINIMAL, {"config": {"serverCAConfigMap": {"name": "corporate-ca", "key": "pem"}}}
    )
    rendered = render(values)
    volume, mount = rendered.volume("server-ca")
    assert volume["configMap"] == {
        "name": "corporate-ca",
        "items": [{"key": "pem", "path": "ca.crt"}],
    }
    assert rendered.env_values["SERVER_CA_FILE"] == f"{mount['mountPath']}/ca.crt"
    assert not [c for c in rendered.all("ConfigMap") if c["metadata"]["name"].endswith("server-ca")]
    both = merge(values, {"config": {"serverCA": PEM}})
    with pytest.raises(helm_python.HelmError, match="set one"):
        render(both)


def test_the_pods_of_a_chart_installed_runner_get_the_proxy_by_secret_key_ref(
    tmp_path: Path,
) -> None:
    """The chart's env given to the real runner's dry run (as in a pod, with the Kubernetes
    API's address): the Job it would create carries the proxy, its credentials by reference."""
    env = render(merge(MINIMAL, PROXY)).env_values
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "invoke", str(MESSAGES / "run_pipeline.json"),
         "--dry-run", "--server-version", "1.13.3"],
        env={**env, "PATH": os.environ["PATH"], "STATE_DIR": str(tmp_path / "state"),
             "SECRETS_PREFLIGHT": "false", "KUBERNETES_SERVICE_HOST": "10.96.0.1"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    job = workload_of(list(yaml.safe_load_all(result.stdout)))
    entries = job["spec"]["template"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in entries}
    assert by_name["PROXY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "corp-proxy",
        "key": "password",
    }
    url = "http://$(PROXY_USERNAME):$(PROXY_PASSWORD)@proxy.corp:3128"
    assert by_name["HTTPS_PROXY"]["value"] == by_name["https_proxy"]["value"] == url
    no_proxy = by_name["NO_PROXY"]["value"].split(",")
    assert no_proxy[:3] == [".corp.example", "10.0.0.0/8", "10.96.0.1"]
    assert "10.96.0.0/12" in no_proxy
    assert TOKEN not in result.stdout + result.stderr


def test_readmes_proxy_values_render_as_it_says() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Behind a proxy", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rendered = render(merge(MINIMAL, yaml.safe_load(block)))
    validate_objects(rendered)
    env = rendered.env_values
    assert env["HTTPS_PROXY"] == "http://proxy.corp.example:3128"
    assert env["NO_PROXY"] == ".corp.example,10.0.0.0/8"
    assert env["PROXY_CREDENTIALS_SECRET"] == "corp-proxy"
    assert env["KUBERNETES_SERVICE_CIDR"] == "10.96.0.0/12"
    assert env["SERVER_CA_FILE"] == "/etc/hybrid-runner/server-ca/ca.crt"
