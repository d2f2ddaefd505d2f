"""Code and chart cannot drift: the chart's Roles are ``runtime.permissions``, for every choice."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from runtime import permissions
from runtime.config.backends import SECRETS_MANAGERS
from tests.backend_names import NO_SUCH_EXECUTOR, NO_SUCH_STORE
from tests.helm.helmkit import CHART_EXECUTORS, MINIMAL, fullname, merge, render

#: config.allowedSecretReferences: nothing, exact names, a wildcard (then ingestion has a
#: namespace of its own: the chart refuses a wildcard in the release's namespace).
ALLOWED: tuple[list[str], ...] = ([], ["db-password", "api-key"], ["collate-*"])


@pytest.mark.parametrize(
    ("executor", "manager", "allowed"),
    list(itertools.product(CHART_EXECUTORS, SECRETS_MANAGERS, ALLOWED)),
)
def test_roles_are_exactly_the_declared_permissions(
    executor: str, manager: str, allowed: list[str]
) -> None:
    extra = [{"name": "AZURE_KEY_VAULT_NAME", "value": "vault"}] if "azure" in manager else []
    config: dict[str, Any] = {"secretsManager": manager, "allowedSecretReferences": allowed}
    if "collate-*" in allowed:
        config["ingestionPods"] = {"namespace": "ingestion"}
    values = merge(MINIMAL, {"executor": executor, "config": config, "extraEnvs": extra})
    rendered = render(values)
    assert rendered.role_rules(fullname()) == permissions.rules_for(executor, manager, allowed)
    ingestion_roles = [
        r for r in rendered.all("Role") if r["metadata"]["name"] == f"{fullname()}-ingestion"
    ]
    expected = permissions.ingestion_rules_for(executor, manager, allowed)
    assert [r["rules"] for r in ingestion_roles] == ([expected] if expected else [])


def test_least_privilege_shape() -> None:
    """What the issues ask for, stated once more against the declarations themselves."""
    argo = permissions.rules_for("argo", "gcp")
    assert {"apiGroups": ["argoproj.io"], "resources": ["workflows", "cronworkflows"],
            "verbs": list(permissions.WORKLOAD_VERBS)} in argo  # fmt: skip
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in argo
    # The runs' config Secrets are written, never read: no get, list, watch or patch.
    written = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update"]}
    assert [r for r in argo if "secrets" in r["resources"]] == [written]
    jobs = permissions.rules_for("simpleK8s", "kubernetes", ["db-password", "db-password"])
    assert jobs[0]["apiGroups"] == ["batch"] and jobs[0]["resources"] == ["jobs", "cronjobs"]
    read = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db-password"],
            "verbs": ["get"]}  # fmt: skip
    assert [r for r in jobs if "secrets" in r["resources"]] == [written, read]
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]} in jobs
    for rules in (argo, jobs):
        for rule in rules:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not {"deletecollection", "escalate", "bind"} & set(rule["verbs"])
            if "update" in rule["verbs"]:
                assert rule == written, "update only on the config Secrets"
    assert permissions.rules_for("local", "gcp") == []
    # Nothing listed: no Secret is readable; a pattern with a wildcard: the namespace's.
    assert permissions.rules_for("local", "kubernetes") == []
    assert permissions.rules_for("local", "kubernetes", ["collate-*"]) == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    ]
    assert permissions.ingestion_rules_for("simpleK8s", "kubernetes", ["db-password"]) == [read]
    assert permissions.ingestion_rules_for("simpleK8s", "kubernetes") == []
    assert permissions.ingestion_rules_for("argo", "managed-aws", ["/collate/*"]) == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
         "verbs": ["create", "patch"]}
    ]  # fmt: skip
    assert permissions.ingestion_rules_for("simpleK8s", "gcp") == []
    assert permissions.ingestion_rules_for("local", "kubernetes") == []


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="executor"):
        permissions.rules_for(NO_SUCH_EXECUTOR, "kubernetes")
    with pytest.raises(ValueError, match="secrets manager"):
        permissions.ingestion_rules_for("argo", NO_SUCH_STORE)
