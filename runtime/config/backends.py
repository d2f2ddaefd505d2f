"""The backends the settings may name, as plain data: what ``EXECUTOR_TYPE`` and
``SECRETS_MANAGER`` accept and the few facts about each that the settings themselves need.

How to build and check a backend, and the RBAC it needs, live with its package (the registries
``runtime.executors.EXECUTORS`` and ``runtime.secrets.STORES``, which import this module); this
module imports nothing of theirs, so the settings read it without closing an import cycle.
``tests/runtime/test_backends.py`` checks that each registry has exactly the names declared here.
"""

from __future__ import annotations

import attrs

#: customConfig.workflowParams / containerParams: Collate's chart sets them in both modes.
WORKFLOW_FILE = "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH"
CONTAINER_FILE = "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH"
ARGO_CONFIGS = "ARGO_PIPELINE_TYPE_CONFIGS"
SIMPLEK8S_CONFIGS = "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
_SPEC_FILES = (WORKFLOW_FILE, CONTAINER_FILE)


@attrs.frozen
class ExecutorType:
    """One value of ``EXECUTOR_TYPE``."""

    name: str
    #: Where it runs ingestion, for ``EXECUTOR_TYPE``'s meaning in README's table.
    where: str
    #: It runs ingestion in Kubernetes pods: the pods get a Role, their image tag is checked,
    #: and they need the service account token for Kubernetes secrets.
    runs_pods: bool
    #: The variables only some executors read: one of these set while another executor is
    #: chosen is reported as having no effect.
    variables: tuple[str, ...] = ()


@attrs.frozen
class SecretsManager:
    """One value of ``SECRETS_MANAGER``."""

    name: str
    #: The runner variables its store reads and passes to the ingestion pods (its
    #: ``pod_env``): the ``local`` executor keeps them in its subprocesses' environment. Never a
    #: credential: these travel in the clear.
    variables: tuple[str, ...] = ()


EXECUTOR_TYPES: dict[str, ExecutorType] = {
    kind.name: kind
    for kind in (
        # No pods, no Kubernetes permission.
        ExecutorType("local", "subprocesses next to the runner", runs_pods=False),
        ExecutorType(
            "argo", "Argo Workflows", runs_pods=True, variables=(ARGO_CONFIGS, *_SPEC_FILES)
        ),
        ExecutorType(
            "simpleK8s",
            "Kubernetes Jobs",
            runs_pods=True,
            variables=(SIMPLEK8S_CONFIGS, *_SPEC_FILES),
        ),
    )
}

_AWS_REGION = ("AWS_DEFAULT_REGION",)
_AZURE_VAULT = ("AZURE_KEY_VAULT_NAME",)

SECRETS_MANAGERS: dict[str, SecretsManager] = {
    manager.name: manager
    for manager in (
        SecretsManager("kubernetes"),
        SecretsManager("managed-aws", variables=_AWS_REGION),
        SecretsManager("aws", variables=_AWS_REGION),
        SecretsManager("managed-azure-kv", variables=_AZURE_VAULT),
        SecretsManager("azure-kv", variables=_AZURE_VAULT),
        SecretsManager("gcp", variables=("GOOGLE_CLOUD_PROJECT",)),
    )
}


def executors_described() -> str:
    """``EXECUTOR_TYPE``'s choices with where each runs ingestion, for its meaning."""
    named = [f"`{kind.name}` ({kind.where})" for kind in EXECUTOR_TYPES.values()]
    return ", ".join(named[:-1]) + " or " + named[-1]


def runs_pods(executor_type: str) -> bool:
    return EXECUTOR_TYPES[executor_type].runs_pods


def passed_through_variables() -> frozenset[str]:
    """The runner variables every store may pass to ingestion (the ``local`` executor keeps
    them in its subprocesses' environment)."""
    return frozenset(name for manager in SECRETS_MANAGERS.values() for name in manager.variables)
