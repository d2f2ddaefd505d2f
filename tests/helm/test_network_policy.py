"""networkPolicy: off by default; on, the runner may reach only DNS, the Kubernetes API and the
server and take scrapes on its metrics port, and the ingestion pods reach DNS, the API, the
server's API and the sources the operator lists. Schema-valid for every supported version."""

from __future__ import annotations

from typing import Any

from tests.helm.helmkit import MINIMAL, fullname, merge, render
from tests.runtime.executors.k8s_support import K8S_VERSIONS, k8s_validate

SOURCES = [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432}]}]


def policies(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in render(values).all("NetworkPolicy")}


def test_off_by_default() -> None:
    assert policies(MINIMAL) == {}


def test_the_runners_and_the_ingestion_pods_policies() -> None:
    values = merge(
        MINIMAL,
        {
            "config": {"ingestionPods": {"namespace": "ingestion"}},
            "networkPolicy": {
                "enabled": True,
                "apiServer": {"cidrs": ["172.18.0.2/32"], "ports": [6443]},
                "server": {"cidrs": ["203.0.113.10/32"]},
                "ingestionPods": {"egress": SOURCES},
            },
        },
    )
    found = policies(values)
    runner, ingestion = found[fullname()], found[f"{fullname()}-ingestion"]
    for policy in (runner, ingestion):
        for version in K8S_VERSIONS:
            k8s_validate(policy, version)
    assert runner["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"]
    assert runner["spec"]["ingress"] == [{"ports": [{"port": 8989, "protocol": "TCP"}]}]
    egress = runner["spec"]["egress"]
    assert [p["port"] for p in egress[0]["ports"]] == [53, 53]
    assert egress[1] == {
        "to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}],
        "ports": [{"port": 6443, "protocol": "TCP"}],
    }
    assert egress[2] == {
        "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    }
    assert len(egress) == 3, "nothing else leaves the runner"
    assert ingestion["metadata"]["namespace"] == "ingestion"
    assert ingestion["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/managed-by": "hybrid-ingestion-runner"}
    }
    assert "ingress" not in ingestion["spec"] and "Ingress" in ingestion["spec"]["policyTypes"]
    assert ingestion["spec"]["egress"][3:] == SOURCES
