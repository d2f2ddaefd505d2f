"""The backend registries: a new executor or secret store is one declaration of its name
(``runtime.config.backends``), one registry entry in its package (``runtime.executors``,
``runtime.secrets``) and its module; the settings, the start-up check, the RBAC rules, the pod
env and the builders all pick it up.

docs/handlers.md ("Adding an executor", "Adding a secret store") walks through the same steps.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from runtime import permissions
from runtime.composition import check_backends
from runtime.config import backends
from runtime.config.backends import ExecutorType, SecretsManager, passed_through_variables
from runtime.executors import EXECUTORS, ExecutorEntry, build_executor, validate_settings_for
from runtime.executors.local.processes import _RUNNER_ONLY
from runtime.executors.scheduling import unused_variables
from runtime.kubeapi.rbac import Rule
from runtime.observability.metrics import Metrics
from runtime.secrets import STORES, StoreEntry, build_secrets, build_store
from runtime.settings import VARIABLES, Settings
from runtime.wire.errors import ConfigError
from tests.backend_names import NO_SUCH_EXECUTOR, NO_SUCH_STORE, UNKNOWN_PREFIX

NOMAD_RULE = Rule(("nomad.example.com",), ("jobs",), ("create", "get", "list", "watch"))
NOMAD_POD_RULE = Rule(("nomad.example.com",), ("results",), ("create",))
FAKE_KV_RULE = Rule(("",), ("configmaps",), ("get",))


@attrs.define
class NomadExecutor:
    """Stands in for a new executor module's class."""

    settings: Settings


def _nomad_check(settings: Settings) -> list[str]:
    if settings.argo_ttl_seconds == 0:
        raise ConfigError("ARGO_SECONDS_AFTER_COMPLETION_TTL", "nomad keeps nothing forever")
    return ["nomad: experimental"]


NOMAD_TYPE = ExecutorType(
    "nomad", "Nomad jobs", runs_pods=True, variables=("ARGO_PIPELINE_TYPE_CONFIGS",)
)
NOMAD = ExecutorEntry(
    name="nomad",
    build=NomadExecutor,  # type: ignore[arg-type]  # an executor in name only: never run
    check=_nomad_check,
    rules=(NOMAD_RULE,),
    ingestion_rules=(NOMAD_POD_RULE,),
)


@attrs.define
class FakeKvStore:
    """Stands in for a new secret store module's class."""

    address: str
    provider: str = "fake-kv"
    backend: str = "fake-kv"

    def validate_id(self, secret_id: str) -> str | None:
        return None

    def check(self, secret_id: str) -> None:
        return None

    def pod_env(self) -> dict[str, str]:
        return {"FAKE_KV_ADDR": self.address}


def _fake_kv_check(settings: Settings) -> None:
    if not settings.server_host_api_url:
        raise ConfigError("SERVER_HOST_API_URL", "required when SECRETS_MANAGER=fake-kv")


FAKE_KV_MANAGER = SecretsManager("fake-kv", variables=("SERVER_HOST_API_URL",))
FAKE_KV = StoreEntry(
    name="fake-kv",
    build=lambda settings: FakeKvStore(settings.server_host_api_url),
    check=_fake_kv_check,
    rules=(FAKE_KV_RULE,),
    ingestion_rules=(FAKE_KV_RULE,),
)


def register_executor(
    monkeypatch: pytest.MonkeyPatch, kind: ExecutorType, entry: ExecutorEntry
) -> None:
    """What adding an executor does: its name declared, its entry registered."""
    monkeypatch.setitem(backends.EXECUTOR_TYPES, kind.name, kind)
    monkeypatch.setitem(EXECUTORS, entry.name, entry)


@pytest.fixture
def nomad(monkeypatch: pytest.MonkeyPatch) -> ExecutorEntry:
    register_executor(monkeypatch, NOMAD_TYPE, NOMAD)
    return NOMAD


@pytest.fixture
def fake_kv(monkeypatch: pytest.MonkeyPatch) -> StoreEntry:
    monkeypatch.setitem(backends.SECRETS_MANAGERS, FAKE_KV_MANAGER.name, FAKE_KV_MANAGER)
    monkeypatch.setitem(STORES, FAKE_KV.name, FAKE_KV)
    return FAKE_KV


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
    register_executor(monkeypatch, attrs.evolve(NOMAD_TYPE, runs_pods=False), NOMAD)
    assert permissions.ingestion_rules_for("nomad", "kubernetes") == []
    # Nor does it need the service account token for Kubernetes secrets.
    check_backends(
        Settings.from_env({"EXECUTOR_TYPE": "nomad", "INGESTION_AUTOMOUNT_SA_TOKEN": "false"})
    )


def test_a_registered_store_is_chosen_checked_built_and_reaches_the_pods(
    fake_kv: StoreEntry,
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_backends(Settings.from_env({"SECRETS_MANAGER": "fake-kv"}))
    assert caught.value.variable == "SERVER_HOST_API_URL"
    settings = Settings.from_env(
        {"SECRETS_MANAGER": "fake-kv", "SERVER_HOST_API_URL": "https://kv.example.com"}
    )
    store = build_store(settings)
    assert isinstance(store, FakeKvStore)
    service = build_secrets(settings, Metrics())
    assert service.provider == "fake-kv"
    assert service.pod_env() == {"FAKE_KV_ADDR": "https://kv.example.com"}
    assert "SERVER_HOST_API_URL" in passed_through_variables()


def test_a_registered_stores_rules_reach_both_roles(fake_kv: StoreEntry) -> None:
    argo = permissions.rules_for("argo", "gcp")  # a store that adds no rule
    assert permissions.rules_for("argo", "fake-kv") == [*argo, FAKE_KV_RULE.as_dict()]
    assert permissions.rules_for("local", "fake-kv") == [FAKE_KV_RULE.as_dict()]
    assert permissions.ingestion_rules_for("simpleK8s", "fake-kv") == [FAKE_KV_RULE.as_dict()]


def test_unregistered_names_are_refused_by_the_settings() -> None:
    unknown = (("EXECUTOR_TYPE", NO_SUCH_EXECUTOR), ("SECRETS_MANAGER", NO_SUCH_STORE))
    for variable, value in unknown:
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({variable: value})
        assert caught.value.variable == variable


def test_each_registry_has_exactly_the_declared_names() -> None:
    # The settings accept the declared names; the registries build and check them.
    assert list(EXECUTORS) == list(backends.EXECUTOR_TYPES)
    assert list(STORES) == list(backends.SECRETS_MANAGERS)
    for name in (*backends.EXECUTOR_TYPES, *backends.SECRETS_MANAGERS):
        assert not name.startswith(UNKNOWN_PREFIX), name


def test_the_declarations_name_only_real_variables() -> None:
    names = {v.name for v in VARIABLES}
    kinds: list[Any] = [*backends.EXECUTOR_TYPES.values(), *backends.SECRETS_MANAGERS.values()]
    for kind in kinds:
        assert set(kind.variables) <= names, kind.name


def test_the_local_executor_passes_the_stores_variables_through() -> None:
    # The local executor strips the runner's variables from its subprocesses' environment but
    # for the ones the declared stores pass on: exactly those stay (each store's own, so a new
    # store's variable needs no edit here).
    names = {v.name for v in VARIABLES}
    assert names - _RUNNER_ONLY == passed_through_variables()
    assert passed_through_variables() == {
        name for manager in backends.SECRETS_MANAGERS.values() for name in manager.variables
    }
    assert {"AWS_DEFAULT_REGION", "AZURE_KEY_VAULT_NAME", "GOOGLE_CLOUD_PROJECT"} <= (
        passed_through_variables()
    )
    assert "AUTH_TOKEN" in _RUNNER_ONLY
