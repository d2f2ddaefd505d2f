"""The Kubernetes RBAC rules each part of the runner needs, read from the backend registries.

Why this module exists: the Helm chart grants the runner's service account a Role, and the
ingestion pods' service account another. If those Roles were written only in YAML they would
drift from what the code really calls: a missing verb shows up as a 403 in a customer's cluster
weeks later, an extra one is privilege nobody reviewed. So the rules live next to the code that
needs them, in each backend's registry entry (``runtime.executors.EXECUTORS``,
``runtime.secrets.STORES``: ``rules``, ``ingestion_rules``),
and ``tests/helm`` renders the chart for every executor and secrets manager and asserts that its
Roles are exactly ``rules_for(...)`` and ``ingestion_rules_for(...)``: change one side without
the other and the build fails.

Least privilege, per part:

* executor ``argo``: Argo ``workflows`` and ``cronworkflows`` (launch, watch, stop, delete,
  scheduled pipelines), the pods they create (diagnosis: unschedulable, image pull errors,
  OOM), their logs, events (reasons a pod never started), and ``create`` / ``update`` on
  Secrets for the runs' config Secrets (never ``get``: it reads no Secret it did not write).
* executor ``simpleK8s``: the same over ``batch`` ``jobs`` and ``cronjobs``.
* executor ``local``: nothing; runs are subprocesses next to the runner.
* secrets manager ``kubernetes``: ``get`` on the Secrets requests may name
  (SECRETS_ALLOWED_REFERENCES, the chart's ``config.allowedSecretReferences``), for the
  preflight: ``resourceNames`` when they are exact names, every Secret of the namespace when a
  pattern has a wildcard (RBAC cannot grant by prefix), none when nothing is listed. The cloud
  stores need no Kubernetes permission: their access comes from the cloud identity bound to
  the service account (IRSA, Azure workload identity, GKE workload identity).

Ingestion pods (``ingestion_rules_for``): under ``argo`` the Argo executor sidecar in every pod
reports results through ``workflowtaskresults`` (create, patch); under ``kubernetes`` secrets the
ingestion process reads the referenced Secrets itself (OpenMetadata's kubernetes secrets
manager), so it gets ``get`` on the same allowed Secrets as the runner, never the runner's own
token. Their config arrives through ``secretKeyRef``, which the kubelet resolves: no
permission. An executor that runs no pods needs no such Role.

Rules are returned as plain dicts in the RBAC API's shape (``apiGroups``, ``resources``,
``verbs``), in a fixed order (the executor's, then the store's), ready to compare with a
rendered Role.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.config.backends import runs_pods
from runtime.executors import executor_entry
from runtime.kubeapi.rbac import WORKLOAD_VERBS, Rule
from runtime.secrets import StoreEntry, store_entry

__all__ = [
    "WORKLOAD_VERBS",
    "Rule",
    "ingestion_rules_for",
    "rules_for",
    "secret_read_rules",
]
_WILDCARDS = frozenset("*?[")


def _as_dicts(rules: Iterable[Rule]) -> list[dict[str, list[str]]]:
    return [rule.as_dict() for rule in rules]


def secret_read_rules(allowed_references: Iterable[str]) -> tuple[Rule, ...]:
    """``get`` on the Secrets that ``allowed_references`` (SECRETS_ALLOWED_REFERENCES) names."""
    allowed = tuple(allowed_references)
    if not allowed:
        return ()
    if any(_WILDCARDS & set(pattern) for pattern in allowed):
        return (Rule(("",), ("secrets",), ("get",)),)
    return (Rule(("",), ("secrets",), ("get",), resource_names=tuple(dict.fromkeys(allowed))),)


def _store_rules(
    store: StoreEntry, rules: tuple[Rule, ...], allowed: Iterable[str]
) -> tuple[Rule, ...]:
    return (*rules, *secret_read_rules(allowed)) if store.reads_kubernetes_secrets else rules


def rules_for(
    executor: str, secrets_manager: str, allowed_references: Iterable[str] = ()
) -> list[dict[str, list[str]]]:
    """The runner's Role rules: what its executor and its secret preflight call."""
    runner, store = executor_entry(executor), store_entry(secrets_manager)
    return _as_dicts((*runner.rules, *_store_rules(store, store.rules, allowed_references)))


def ingestion_rules_for(
    executor: str, secrets_manager: str, allowed_references: Iterable[str] = ()
) -> list[dict[str, list[str]]]:
    """The ingestion pods' Role rules (empty: the chart creates no Role for them)."""
    runner, store = executor_entry(executor), store_entry(secrets_manager)
    if not runs_pods(executor):
        # No pods: the local executor runs subprocesses with the runner's own identity.
        return []
    store_rules = _store_rules(store, store.ingestion_rules, allowed_references)
    return _as_dicts((*runner.ingestion_rules, *store_rules))
