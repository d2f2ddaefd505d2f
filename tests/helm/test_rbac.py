"""Code and chart cannot drift: the chart's Roles are ``runtime.permissions``, for every choice."""

from __future__ import annotations

import itertools

import pytest

from runtime import permissions
from runtime.settings import SECRETS_MANAGERS
from tests.helm.helmkit import MINIMAL, fullname, merge, render

CHART_EXECUTORS = ("argo", "simpleK8s")


@pytest.mark.parametrize(
    ("executor", "manager"), list(itertools.product(CHART_EXECUTORS, SECRETS_MANAGERS))
)
def test_roles_are_exactly_the_declared_permissions(executor: str, manager: str) -> None:
    extra = [{"name": "AZURE_KEY_VAULT_NAME", "value": "vault"}] if "azure" in manager else []
    values = merge(
        MINIMAL,
        {"executor": executor, "config": {"secretsManager": manager}, "extraEnvs": extra},
    )
    rendered = render(values)
    assert rendered.role_rules(fullname()) == permissions.rules_for(executor, manager)
    ingestion_roles = [
        r for r in rendered.all("Role") if r["metadata"]["name"] == f"{fullname()}-ingestion"
    ]
    expected = permissions.ingestion_rules_for(executor, manager)
    assert [r["rules"] for r in ingestion_roles] == ([expected] if expected else [])


def test_least_privilege_shape() -> None:
    """What the issue asks for, stated once more against the declarations themselves."""
    argo = permissions.rules_for("argo", "gcp")
    assert {"apiGroups": ["argoproj.io"], "resources": ["workflows", "cronworkflows"],
            "verbs": list(permissions.WORKLOAD_VERBS)} in argo  # fmt: skip
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in argo
    assert not any("secrets" in r["resources"] for r in argo)
    jobs = permissions.rules_for("simpleK8s", "kubernetes")
    assert jobs[0]["apiGroups"] == ["batch"] and jobs[0]["resources"] == ["jobs", "cronjobs"]
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]} in jobs
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]} in jobs
    for rules in (argo, jobs):
        for rule in rules:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not {"update", "deletecollection", "escalate", "bind"} & set(rule["verbs"])
    assert permissions.rules_for("local", "gcp") == []
    assert permissions.rules_for("local", "kubernetes") == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    ]
    assert permissions.ingestion_rules_for("argo", "managed-aws") == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
         "verbs": ["create", "patch"]}
    ]  # fmt: skip
    assert permissions.ingestion_rules_for("simpleK8s", "gcp") == []
    assert permissions.ingestion_rules_for("local", "kubernetes") == []


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="executor"):
        permissions.rules_for("airflow", "kubernetes")
    with pytest.raises(ValueError, match="secrets manager"):
        permissions.ingestion_rules_for("argo", "vault")
