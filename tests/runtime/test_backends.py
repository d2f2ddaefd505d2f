"""The backend registries: a new executor or secret store is one entry (plus its module), and the
settings, the start-up check, the RBAC rules, the pod env and the builders all pick it up.

docs/handlers.md ("Adding an executor", "Adding a secret store") walks through the same steps.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from runtime import permissions
from runtime.backends import (
    EXECUTORS,
    STORES,
    ExecutorEntry,
    StoreEntry,
    passed_through_variables,
)
from runtime.errors import ConfigError
from runtime.executors import build_executor
from runtime.executors.local_processes import _RUNNER_ONLY
from runtime.executors.scheduling import unused_variables, validate_settings_for
from runtime.metrics import Metrics
from runtime.rbac import Rule
from runtime.secrets import build_secrets, build_store
from runtime.settings import VARIABLES, Settings

NOMAD_RULE = Rule(("nomad.example.com",), ("jobs",), ("create", "get", "list", "watch"))
NOMAD_POD_RULE = Rule(("nomad.example.com",), ("results",), ("create",))
VAULT_RULE = Rule(("",), ("configmaps",), ("get",))


@attrs.define
class NomadExecutor:
    """Stands in for a new executor module's class."""

    settings: Settings


def _nomad_check(settings: Settings) -> list[str]:
    if settings.argo_ttl_seconds == 0:
        raise ConfigError("ARGO_SECONDS_AFTER_COMPLETION_TTL", "nomad keeps nothing forever")
    return ["nomad: experimental"]


NOMAD = ExecutorEntry(
    name="nomad",
    build=NomadExecutor,
    runs_pods=True,
    variables=("ARGO_PIPELINE_TYPE_CONFIGS",),
    check=_nomad_check,
    rules=(NOMAD_RULE,),
    ingestion_rules=(NOMAD_POD_RULE,),
)


@attrs.define
class VaultStore:
    """Stands in for a new secret store module's class."""

    address: str
    provider: str = "vault"
    backend: str = "vault"

    def validate_id(self, secret_id: str) -> str | None:
        return None

    def check(self, secret_id: str) -> None:
        return None

    def pod_env(self) -> dict[str, str]:
        return {"VAULT_ADDR": self.address}


def _vault_check(settings: Settings) -> None:
    if not settings.server_host_api_url:
        raise ConfigError("SERVER_HOST_API_URL", "required when SECRETS_MANAGER=vault")


VAULT = StoreEntry(
    name="vault",
    build=lambda settings: VaultStore(settings.server_host_api_url),
    variables=("SERVER_HOST_API_URL",),
    check=_vault_check,
    rules=(VAULT_RULE,),
    ingestion_rules=(VAULT_RULE,),
)


@pytest.fixture
def nomad(monkeypatch: pytest.MonkeyPatch) -> ExecutorEntry:
    monkeypatch.setitem(EXECUTORS, NOMAD.name, NOMAD)
    return NOMAD


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> StoreEntry:
    monkeypatch.setitem(STORES, VAULT.name, VAULT)
    return VAULT


def test_a_registered_executor_is_chosen_built_and_checked(nomad: ExecutorEntry) -> None:
    settings = Settings.from_env({"EXECUTOR_TYPE": "nomad", "ARGO_PIPELINE_TYPE_CONFIGS": "{}"})
    assert settings.executor_type == "nomad"
    executor: Any = build_executor(settings)
    assert isinstance(executor, NomadExecutor)
    assert executor.settings is settings
    assert validate_settings_for("nomad", settings) == ["nomad: experimental"]
    with pytest.raises(ConfigError) as caught:
        validate_settings_for(
            "nomad", Settings.from_env({"ARGO_SECONDS_AFTER_COMPLETION_TTL": "0"})
        )
    assert caught.value.variable == "ARGO_SECONDS_AFTER_COMPLETION_TTL"


def test_a_registered_executors_variables_join_the_unused_check(nomad: ExecutorEntry) -> None:
    argo_configs = Settings.from_env({"ARGO_PIPELINE_TYPE_CONFIGS": '{"metadata": {}}'})
    # nomad reads it: no warning; simpleK8s does not: still warned about.
    assert unused_variables("nomad", argo_configs) == []
    assert unused_variables("simpleK8s", argo_configs) == [
        "ARGO_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=simpleK8s"
    ]
    job_configs = Settings.from_env({"SIMPLEK8S_PIPELINE_TYPE_CONFIGS": '{"metadata": {}}'})
    assert unused_variables("nomad", job_configs) == [
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=nomad"
    ]


def test_a_registered_executors_rules_reach_both_roles(nomad: ExecutorEntry) -> None:
    secrets = Rule(("",), ("secrets",), ("get",), resource_names=("db",)).as_dict()
    assert permissions.rules_for("nomad", "kubernetes", ["db"]) == [NOMAD_RULE.as_dict(), secrets]
    assert permissions.ingestion_rules_for("nomad", "gcp") == [NOMAD_POD_RULE.as_dict()]
    assert permissions.ingestion_rules_for("nomad", "kubernetes", ["db"]) == [
        NOMAD_POD_RULE.as_dict(),
        secrets,
    ]


def test_an_executor_without_pods_gets_no_ingestion_role(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(EXECUTORS, "nomad", attrs.evolve(NOMAD, runs_pods=False))
    assert permissions.ingestion_rules_for("nomad", "kubernetes") == []
    # Nor does it need the service account token for Kubernetes secrets.
    Settings.from_env({"EXECUTOR_TYPE": "nomad", "INGESTION_AUTOMOUNT_SA_TOKEN": "false"})


def test_a_registered_store_is_chosen_checked_built_and_reaches_the_pods(
    vault: StoreEntry,
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SECRETS_MANAGER": "vault"})
    assert caught.value.variable == "SERVER_HOST_API_URL"
    settings = Settings.from_env(
        {"SECRETS_MANAGER": "vault", "SERVER_HOST_API_URL": "https://vault.example.com"}
    )
    store = build_store(settings)
    assert isinstance(store, VaultStore)
    service = build_secrets(settings, Metrics())
    assert service.provider == "vault"
    assert service.pod_env() == {"VAULT_ADDR": "https://vault.example.com"}
    assert "SERVER_HOST_API_URL" in passed_through_variables()


def test_a_registered_stores_rules_reach_both_roles(vault: StoreEntry) -> None:
    argo = permissions.rules_for("argo", "gcp")  # a store that adds no rule
    assert permissions.rules_for("argo", "vault") == [*argo, VAULT_RULE.as_dict()]
    assert permissions.rules_for("local", "vault") == [VAULT_RULE.as_dict()]
    assert permissions.ingestion_rules_for("simpleK8s", "vault") == [VAULT_RULE.as_dict()]


def test_unregistered_names_are_refused_by_the_settings() -> None:
    for variable, value in (("EXECUTOR_TYPE", "nomad"), ("SECRETS_MANAGER", "vault")):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({variable: value})
        assert caught.value.variable == variable


def test_the_registries_declare_only_real_variables() -> None:
    names = {v.name for v in VARIABLES}
    for entry in (*EXECUTORS.values(), *STORES.values()):
        assert set(entry.variables) <= names, entry.name


def test_the_local_executor_passes_the_stores_variables_through() -> None:
    # The local executor strips the runner's variables from its subprocesses' environment but
    # for the ones the registry's stores pass on: exactly those stay.
    names = {v.name for v in VARIABLES}
    assert names - _RUNNER_ONLY == passed_through_variables()
    assert passed_through_variables() == {
        "AWS_DEFAULT_REGION",
        "AZURE_KEY_VAULT_NAME",
        "GOOGLE_CLOUD_PROJECT",
    }
    assert "AUTH_TOKEN" in _RUNNER_ONLY
