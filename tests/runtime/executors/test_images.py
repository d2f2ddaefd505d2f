"""The ingestion image: the default repository, the tag scheme per repository, and what happens
when no tag can be known."""

from __future__ import annotations

import pytest

from runtime.executors.images import (
    DEFAULT_REPOSITORY,
    dynamic_tag,
    is_collate_image,
    missing_tag_warning,
    resolve_image,
    split_image,
)

COLLATE_ECR_REPO = (
    "118146679784.dkr.ecr.eu-west-1.amazonaws.com/collate-customers-ingestion-slim-eu-west-1"
)


def resolve(configured: str = "", version: str = "1.13.3", *, dynamic: bool = True) -> str:
    return resolve_image(configured, requested=None, dynamic=dynamic, server_version=version)


def test_the_default_is_openmetadatas_public_image_tagged_with_the_server_version() -> None:
    assert DEFAULT_REPOSITORY == "docker.getcollate.io/openmetadata/ingestion-base"
    assert resolve() == "docker.getcollate.io/openmetadata/ingestion-base:1.13.3"
    assert resolve(version="v1.12.10") == f"{DEFAULT_REPOSITORY}:1.12.10"


def test_the_public_charts_default_image_keeps_collates_scheme() -> None:
    configured = f"{COLLATE_ECR_REPO}:om-1.13.3-cl-1.13.3"
    assert resolve(configured, "1.13.4") == f"{COLLATE_ECR_REPO}:om-1.13.4-cl-1.13.4"


@pytest.mark.parametrize(
    ("repository", "tag", "collate"),
    [
        (COLLATE_ECR_REPO, None, True),
        ("118146679784.dkr.ecr.us-east-1.amazonaws.com/anything", None, True),
        ("registry.acme.internal/mirror/collate-customers-ingestion-slim", None, True),
        ("docker.getcollate.io/openmetadata/collate-base", None, True),
        ("registry.acme.internal/ingestion", "om-1.11.1-cl-1.11.1", True),
        ("docker.getcollate.io/openmetadata/ingestion-base", None, False),
        ("docker.getcollate.io/openmetadata/ingestion-base", "1.13.3", False),
        ("registry.acme.internal/ingestion", "latest", False),
        ("999999999999.dkr.ecr.eu-west-1.amazonaws.com/collate", None, False),
        ("collate-base", None, True),
    ],
)
def test_which_repositories_use_collates_scheme(
    repository: str, tag: str | None, collate: bool
) -> None:
    assert is_collate_image(repository, tag) is collate


def test_an_own_registry_mirror_of_openmetadatas_image_gets_plain_versions() -> None:
    assert resolve("registry.acme.internal/om/ingestion-base:1.12.0") == (
        "registry.acme.internal/om/ingestion-base:1.13.3"
    )
    assert resolve("registry.acme.internal:5000/ingestion") == (
        "registry.acme.internal:5000/ingestion:1.13.3"
    )


def test_dynamic_off_keeps_the_configured_tag_and_the_request_wins() -> None:
    pinned = f"{COLLATE_ECR_REPO}:om-1.11.1-cl-1.11.1"
    assert resolve(pinned, dynamic=False) == pinned
    assert (
        resolve_image(pinned, requested="x/y:z", dynamic=True, server_version="1.13.3") == "x/y:z"
    )


def test_a_digest_is_never_retagged() -> None:
    digest = f"{DEFAULT_REPOSITORY}@sha256:{'a' * 64}"
    assert resolve(digest) == digest


@pytest.mark.parametrize(
    ("configured", "version", "dynamic"),
    [
        ("", "", True),  # no server version (e.g. the harness without --server-version)
        ("", "nightly", True),  # not a release version
        ("", "1.13.3", False),  # dynamic off and no tag configured
        ("registry.acme.internal/ingestion", "1.13.3", False),
    ],
)
def test_no_tag_known_is_no_image(configured: str, version: str, dynamic: bool) -> None:
    assert resolve(configured, version, dynamic=dynamic) == ""


def test_without_a_server_version_the_configured_tag_is_used() -> None:
    assert resolve(f"{DEFAULT_REPOSITORY}:1.12.0", "") == f"{DEFAULT_REPOSITORY}:1.12.0"


def test_dynamic_tag_schemes() -> None:
    assert dynamic_tag("1.11.1", collate=True) == "om-1.11.1-cl-1.11.1"
    assert dynamic_tag("1.11.1", collate=False) == "1.11.1"
    assert dynamic_tag("1.13.3-SNAPSHOT", collate=False) == "1.13.3-SNAPSHOT"
    assert dynamic_tag("latest", collate=False) is None


def test_split_image() -> None:
    assert split_image("registry:5000/repo:tag@sha256:x") == (
        "registry:5000/repo",
        "tag",
        "sha256:x",
    )
    assert split_image("registry:5000/repo") == ("registry:5000/repo", None, None)


def test_missing_tag_warning_names_the_variables() -> None:
    warning = missing_tag_warning("", dynamic=False)
    assert warning is not None
    assert "INGESTION_IMAGE" in warning and "DYNAMIC_INGESTION_VERSION_ENABLED=false" in warning
    assert f"INGESTION_IMAGE={DEFAULT_REPOSITORY}:<tag>" in warning
    assert missing_tag_warning("", dynamic=True) is None
    assert missing_tag_warning("r/i:1.0.0", dynamic=False) is None
