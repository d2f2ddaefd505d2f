"""Backend registries: each executor and each secret store is one entry here plus its module.

An entry says how to build the backend (its module is imported only then), the variables it
reads, the RBAC rules the runner and the ingestion pods need for it, and what it passes to the
pods. Everything that used to list the backends by name reads these tables instead:
``EXECUTOR_TYPE`` / ``SECRETS_MANAGER`` accept their keys, ``build_executor`` / ``build_store``
call ``build``, the start-up check warns about another executor's variables and runs ``check``,
``runtime.permissions`` (and so the Helm Role test) joins ``rules``, and the ``local`` executor
passes the stores' ``variables`` through to its subprocesses. docs/handlers.md shows how to add
one.

This module imports no backend and no settings at run time, so ``runtime.settings`` can read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from runtime.errors import ConfigError
from runtime.rbac import CONFIG_SECRET_RULE, POD_RULES, WORKLOAD_VERBS, Rule

if TYPE_CHECKING:
    from runtime.executors.base import Executor
    from runtime.secrets.base import SecretStore
    from runtime.settings import Settings

log = logging.getLogger("runtime.executors")


def _no_warnings(settings: Settings) -> list[str]:
    return []


def _no_check(settings: Settings) -> None:
    return None


@attrs.frozen(kw_only=True)
class ExecutorEntry:
    """One executor (``EXECUTOR_TYPE=<name>``)."""

    name: str
    #: Builds the executor from settings (importing its module here); contacts nothing.
    build: Callable[[Settings], Executor]
    #: It runs ingestion in Kubernetes pods: the pods get a Role, their image tag is checked,
    #: and they need the service account token for Kubernetes secrets.
    runs_pods: bool
    #: The variables only some executors read: one of these set while another executor is
    #: chosen is reported as having no effect.
    variables: tuple[str, ...] = ()
    #: Validates its variables at start-up: raises ``ConfigError``, returns warnings.
    check: Callable[[Settings], list[str]] = _no_warnings
    #: What the runner's Role grants for it, and the ingestion pods' Role.
    rules: tuple[Rule, ...] = ()
    ingestion_rules: tuple[Rule, ...] = ()


@attrs.frozen(kw_only=True)
class StoreEntry:
    """One secret store (``SECRETS_MANAGER=<name>``)."""

    name: str
    #: Builds the store from settings (importing its module here); contacts nothing.
    build: Callable[[Settings], SecretStore]
    #: The runner variables it reads and passes to the ingestion pods (its ``pod_env``): the
    #: ``local`` executor passes them through to its subprocesses.
    variables: tuple[str, ...] = ()
    #: Cross-checks settings at start-up; raises ``ConfigError`` naming the variable.
    check: Callable[[Settings], None] = _no_check
    rules: tuple[Rule, ...] = ()
    ingestion_rules: tuple[Rule, ...] = ()
    #: Its ids name Kubernetes Secrets in the ingestion namespace: the runner (preflight) and
    #: the ingestion pods get ``get`` on exactly the allowed ones (``runtime.permissions``).
    reads_kubernetes_secrets: bool = False


# -- executors ---------------------------------------------------------------------------------

ARGO_CONFIGS = "ARGO_PIPELINE_TYPE_CONFIGS"
SIMPLEK8S_CONFIGS = "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
#: customConfig.workflowParams / containerParams: Collate's chart sets them in both modes.
WORKFLOW_FILE = "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
CONTAINER_FILE = "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH"


def _build_local(settings: Settings) -> Executor:
    from runtime.executors.local import LocalExecutor

    for warning in unused_variables("local", settings):
        log.warning(warning)
    return LocalExecutor(settings)


def _build_argo(settings: Settings) -> Executor:
    from runtime.executors import argo

    return argo.from_settings(settings)


def _build_simple_k8s(settings: Settings) -> Executor:
    from runtime.executors import simple_k8s

    return simple_k8s.from_settings(settings)


def _check_argo(settings: Settings) -> list[str]:
    from runtime.executors.scheduling import check_pod_variables

    return check_pod_variables("argo", settings)


def _check_simple_k8s(settings: Settings) -> list[str]:
    from runtime.executors.scheduling import check_pod_variables

    return check_pod_variables("simpleK8s", settings)


EXECUTORS: dict[str, ExecutorEntry] = {
    entry.name: entry
    for entry in (
        # Subprocesses next to the runner: no pods, no Kubernetes permission.
        ExecutorEntry(name="local", build=_build_local, runs_pods=False),
        ExecutorEntry(
            name="argo",
            build=_build_argo,
            runs_pods=True,
            variables=(ARGO_CONFIGS, WORKFLOW_FILE, CONTAINER_FILE),
            check=_check_argo,
            rules=(
                Rule(("argoproj.io",), ("workflows", "cronworkflows"), WORKLOAD_VERBS),
                *POD_RULES,
                CONFIG_SECRET_RULE,
            ),
            # Argo's executor (the ``wait`` container) records outputs as WorkflowTaskResults.
            ingestion_rules=(
                Rule(("argoproj.io",), ("workflowtaskresults",), ("create", "patch")),
            ),
        ),
        ExecutorEntry(
            name="simpleK8s",
            build=_build_simple_k8s,
            runs_pods=True,
            variables=(SIMPLEK8S_CONFIGS, WORKFLOW_FILE, CONTAINER_FILE),
            check=_check_simple_k8s,
            rules=(
                Rule(("batch",), ("jobs", "cronjobs"), WORKLOAD_VERBS),
                *POD_RULES,
                CONFIG_SECRET_RULE,
            ),
        ),
    )
}


def unused_variables(executor_type: str, settings: Settings) -> list[str]:
    """Warnings naming the executor variables that are set but mean nothing to
    ``executor_type`` (the other executors'; all of them for one that declares none)."""
    from runtime.settings import VARIABLES

    used = set(EXECUTORS[executor_type].variables)
    declared = {name for entry in EXECUTORS.values() for name in entry.variables}
    return [
        f"{var.name} is set but has no effect with EXECUTOR_TYPE={executor_type}"
        for var in VARIABLES
        if var.name in declared and var.name not in used and getattr(settings, var.field)
    ]


# -- secret stores -----------------------------------------------------------------------------


def _timeouts(settings: Settings) -> tuple[float, float]:
    """(connect, read): a backend call may not outlive its preflight by much."""
    read_timeout = settings.secrets_preflight_timeout
    return min(3.0, read_timeout), read_timeout


def _build_kubernetes(settings: Settings) -> SecretStore:
    from runtime.secrets.kubernetes import KubernetesSecretStore

    connect, read = _timeouts(settings)
    return KubernetesSecretStore(
        settings.ingestion_namespace, connect_timeout=connect, read_timeout=read
    )


def _build_aws(settings: Settings) -> SecretStore:
    from runtime.secrets.aws import AwsSecretStore

    connect, read = _timeouts(settings)
    return AwsSecretStore(
        settings.secrets_manager,
        settings.aws_region or None,
        connect_timeout=connect,
        read_timeout=read,
    )


def _build_azure(settings: Settings) -> SecretStore:
    from runtime.secrets.azure import AzureKeyVaultStore

    connect, read = _timeouts(settings)
    return AzureKeyVaultStore(
        settings.secrets_manager,
        settings.azure_key_vault_name,
        connect_timeout=connect,
        read_timeout=read,
    )


def _build_gcp(settings: Settings) -> SecretStore:
    from runtime.secrets.gcp import GcpSecretStore

    return GcpSecretStore(settings.gcp_project or None, timeout=_timeouts(settings)[1])


def _check_kubernetes(settings: Settings) -> None:
    if EXECUTORS[settings.executor_type].runs_pods and not settings.ingestion_automount_sa_token:
        # kubernetes_secrets_manager.py calls load_incluster_config() when the pod says
        # KUBERNETES_IN_CLUSTER=true: without the token every run fails before it starts.
        raise ConfigError(
            "INGESTION_AUTOMOUNT_SA_TOKEN",
            "false contradicts SECRETS_MANAGER=kubernetes: OpenMetadata's Kubernetes secrets "
            "manager reads the ingestion pod's service account token (in-cluster "
            "configuration) as it starts, so every run would fail",
        )


def _check_azure(settings: Settings) -> None:
    if not settings.azure_key_vault_name:
        raise ConfigError(
            "AZURE_KEY_VAULT_NAME", f"required when SECRETS_MANAGER={settings.secrets_manager}"
        )


_AWS_REGION = ("AWS_DEFAULT_REGION",)
_AZURE_VAULT = ("AZURE_KEY_VAULT_NAME",)

STORES: dict[str, StoreEntry] = {
    entry.name: entry
    for entry in (
        # The preflight reads Secrets; so does OpenMetadata's kubernetes secrets manager in the
        # pod: both only the allowed ones. The cloud stores need no Kubernetes permission: their
        # access comes from the cloud identity bound to the service account (IRSA, Azure or GKE
        # workload identity).
        StoreEntry(
            name="kubernetes",
            build=_build_kubernetes,
            check=_check_kubernetes,
            reads_kubernetes_secrets=True,
        ),
        StoreEntry(name="managed-aws", build=_build_aws, variables=_AWS_REGION),
        StoreEntry(name="aws", build=_build_aws, variables=_AWS_REGION),
        StoreEntry(
            name="managed-azure-kv", build=_build_azure, variables=_AZURE_VAULT, check=_check_azure
        ),
        StoreEntry(name="azure-kv", build=_build_azure, variables=_AZURE_VAULT, check=_check_azure),
        StoreEntry(name="gcp", build=_build_gcp, variables=("GOOGLE_CLOUD_PROJECT",)),
    )
}


def executor_entry(name: str) -> ExecutorEntry:
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; expected one of {tuple(EXECUTORS)}")
    return EXECUTORS[name]


def store_entry(name: str) -> StoreEntry:
    if name not in STORES:
        raise ValueError(f"unknown secrets manager {name!r}; expected one of {tuple(STORES)}")
    return STORES[name]


def passed_through_variables() -> frozenset[str]:
    """The runner variables every store may pass to ingestion (the ``local`` executor keeps
    them in its subprocesses' environment)."""
    return frozenset(name for entry in STORES.values() for name in entry.variables)
