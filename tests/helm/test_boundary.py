"""The chart's side of the operator's boundary: the image policy and the secret scope reach the
runner, and with the Kubernetes store the Roles let the runner and the ingestion pods read
exactly the allowed Secrets, never the release's own."""

from __future__ import annotations

import helm_python
import pytest

from tests.helm.helmkit import MINIMAL, fullname, merge, render


def test_the_image_policy_and_the_secret_scope_reach_the_runner() -> None:
    values = merge(
        MINIMAL,
        {
            "config": {
                "secretsManager": "managed-aws",
                "allowedSecretReferences": ["/collate/*", "/shared/db"],
                "ingestionPods": {
                    "allowedImages": ["registry.corp/ingestion/*", "mirror.corp/om"],
                    "requireImageDigest": True,
                },
            }
        },
    )
    env = render(values).env_values
    assert env["INGESTION_ALLOWED_IMAGES"] == "registry.corp/ingestion/*,mirror.corp/om"
    assert env["INGESTION_IMAGE_DIGEST_REQUIRED"] == "true"
    assert env["SECRETS_ALLOWED_REFERENCES"] == "/collate/*,/shared/db"


def test_by_default_no_policy_variable_is_set() -> None:
    """The runner's defaults are the secure ones: the configured repository only."""
    env = render(MINIMAL).env_values
    assert not {"INGESTION_ALLOWED_IMAGES", "SECRETS_ALLOWED_REFERENCES"} & set(env)
    assert "INGESTION_IMAGE_DIGEST_REQUIRED" not in env


def secret_rules(rendered: object, role: str) -> list[dict[str, object]]:
    return [r for r in rendered.role_rules(role) if "secrets" in r["resources"]]  # type: ignore[attr-defined]


def test_kubernetes_secrets_named_are_the_only_ones_readable() -> None:
    values = merge(MINIMAL, {"config": {"allowedSecretReferences": ["mysql-password"]}})
    rendered = render(values)
    read = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mysql-password"],
            "verbs": ["get"]}  # fmt: skip
    written = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update"]}
    assert secret_rules(rendered, fullname()) == [written, read]
    assert secret_rules(rendered, f"{fullname()}-ingestion") == [read]


def test_nothing_listed_means_no_secret_is_readable() -> None:
    rendered = render(MINIMAL)
    assert [r["verbs"] for r in secret_rules(rendered, fullname())] == [["create", "update"]]
    assert not [r for r in rendered.all("Role") if r["metadata"]["name"].endswith("-ingestion")]


def test_a_wildcard_in_the_releases_own_namespace_is_refused() -> None:
    values = merge(MINIMAL, {"config": {"allowedSecretReferences": ["collate-*"]}})
    with pytest.raises(helm_python.HelmError, match="namespace of its own"):
        render(values)
    elsewhere = merge(values, {"config": {"ingestionPods": {"namespace": "ingestion"}}})
    rendered = render(elsewhere)
    rule = secret_rules(rendered, f"{fullname()}-ingestion")
    assert rule == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert rendered.one("Role", f"{fullname()}-ingestion")["metadata"]["namespace"] == "ingestion"
