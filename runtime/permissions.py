"""The Kubernetes RBAC rules each part of the runner needs, declared once, as data.

Why this module exists: the Helm chart grants the runner's service account a Role, and the
ingestion pods' service account another. If those Roles were written only in YAML they would
drift from what the code really calls: a missing verb shows up as a 403 in a customer's cluster
weeks later, an extra one is privilege nobody reviewed. So the rules live here, next to the code
that needs them, and ``tests/helm`` renders the chart for every executor and secrets manager and
asserts that its Roles are exactly ``rules_for(...)`` and ``ingestion_rules_for(...)``: change one
side without the other and the build fails.

Least privilege, per part:

* executor ``argo``: Argo ``workflows`` and ``cronworkflows`` (launch, watch, stop, delete,
  scheduled pipelines), the pods they create (diagnosis: unschedulable, image pull errors,
  OOM), their logs, and events (reasons a pod never started).
* executor ``simpleK8s``: the same over ``batch`` ``jobs`` and ``cronjobs``.
* executor ``local``: nothing; runs are subprocesses next to the runner.
* secrets manager ``kubernetes``: ``get`` on Secrets, for the preflight that checks every
  ``secret:`` reference before a launch. The cloud stores need no Kubernetes permission: their
  access comes from the cloud identity bound to the service account (IRSA, Azure workload
  identity, GKE workload identity).

Ingestion pods (``ingestion_rules_for``): under ``argo`` the Argo executor sidecar in every pod
reports results through ``workflowtaskresults`` (create, patch); under ``kubernetes`` secrets the
ingestion process reads the referenced Secrets itself (OpenMetadata's kubernetes secrets
manager), so it needs ``get`` on Secrets.

Rules are returned as plain dicts in the RBAC API's shape (``apiGroups``, ``resources``,
``verbs``), in a fixed order, ready to compare with a rendered Role.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from runtime.settings import EXECUTOR_TYPES, SECRETS_MANAGERS

__all__ = [
    "WORKLOAD_VERBS",
    "Rule",
    "ingestion_rules_for",
    "rules_for",
]

#: Verbs on the runner's own workloads (Workflows/CronWorkflows or Jobs/CronJobs): launch is
#: create (409 -> adopt with get), status is list + watch, kill and toggle are patch
#: (``spec.shutdown``, ``spec.suspend``), cleanup and undeploy are delete. ``deploy_pipeline``
#: re-deploys with get + a JSON patch replacing ``spec`` (so no ``update``); ``delete_pipeline``
#: lists a pipeline's runs by label and deletes the finished ones one by one (no
#: ``deletecollection``: a selector cannot tell finished runs from active ones).
WORKLOAD_VERBS = ("create", "get", "list", "watch", "patch", "delete")
_READ = ("get", "list", "watch")


@attrs.frozen
class Rule:
    """One RBAC policy rule (always namespaced: the chart grants it through a Role)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }


_POD_RULES = (
    Rule(("",), ("pods",), _READ),
    Rule(("",), ("pods/log",), ("get",)),
    Rule(("",), ("events",), ("list", "watch")),
)

EXECUTOR_RULES: dict[str, tuple[Rule, ...]] = {
    "argo": (
        Rule(("argoproj.io",), ("workflows", "cronworkflows"), WORKLOAD_VERBS),
        *_POD_RULES,
    ),
    "simpleK8s": (
        Rule(("batch",), ("jobs", "cronjobs"), WORKLOAD_VERBS),
        *_POD_RULES,
    ),
    "local": (),
}

SECRETS_MANAGER_RULES: dict[str, tuple[Rule, ...]] = {
    "kubernetes": (Rule(("",), ("secrets",), ("get",)),),
    "managed-aws": (),
    "aws": (),
    "managed-azure-kv": (),
    "azure-kv": (),
    "gcp": (),
}

INGESTION_EXECUTOR_RULES: dict[str, tuple[Rule, ...]] = {
    # Argo's executor (the ``wait`` container) records outputs as WorkflowTaskResults.
    "argo": (Rule(("argoproj.io",), ("workflowtaskresults",), ("create", "patch")),),
    "simpleK8s": (),
    "local": (),
}

INGESTION_SECRETS_MANAGER_RULES: dict[str, tuple[Rule, ...]] = {
    # OpenMetadata's kubernetes secrets manager reads the referenced Secret from the pod.
    "kubernetes": (Rule(("",), ("secrets",), ("get",)),),
    "managed-aws": (),
    "aws": (),
    "managed-azure-kv": (),
    "azure-kv": (),
    "gcp": (),
}


def _check(executor: str, secrets_manager: str) -> None:
    if executor not in EXECUTOR_TYPES:
        raise ValueError(f"unknown executor {executor!r}; expected one of {EXECUTOR_TYPES}")
    if secrets_manager not in SECRETS_MANAGERS:
        raise ValueError(
            f"unknown secrets manager {secrets_manager!r}; expected one of {SECRETS_MANAGERS}"
        )


def _as_dicts(rules: Iterable[Rule]) -> list[dict[str, list[str]]]:
    return [rule.as_dict() for rule in rules]


def rules_for(executor: str, secrets_manager: str) -> list[dict[str, list[str]]]:
    """The runner's Role rules: what its executor and its secret preflight call."""
    _check(executor, secrets_manager)
    return _as_dicts((*EXECUTOR_RULES[executor], *SECRETS_MANAGER_RULES[secrets_manager]))


def ingestion_rules_for(executor: str, secrets_manager: str) -> list[dict[str, list[str]]]:
    """The ingestion pods' Role rules (empty: the chart creates no Role for them)."""
    _check(executor, secrets_manager)
    if executor == "local":
        # No pods: the local executor runs subprocesses with the runner's own identity.
        return []
    return _as_dicts(
        (*INGESTION_EXECUTOR_RULES[executor], *INGESTION_SECRETS_MANAGER_RULES[secrets_manager])
    )
