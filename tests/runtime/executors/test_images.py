"""The ingestion image: the default repository, the tag scheme per repository, what happens
when no tag can be known, and the operator's image policy."""

from __future__ import annotations

import pytest

from runtime.executors.images import (
    DEFAULT_REPOSITORY,
    ImagePolicy,
    dynamic_tag,
    is_collate_image,
    missing_tag_warning,
    normalize_repository,
    resolve_image,
    split_image,
)
from runtime.settings import Settings
from runtime.wire.errors import ConfigError, Refused

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


# -- the image policy (INGESTION_ALLOWED_IMAGES, INGESTION_IMAGE_DIGEST_REQUIRED) ------------------

COLLATE_ECR = "118146679784.dkr.ecr.eu-west-1.amazonaws.com"
COLLATE_IMAGE = COLLATE_ECR_REPO


def policy(**env: str) -> ImagePolicy:
    return ImagePolicy.from_settings(Settings.from_env(env))


def refusal(image: str, **env: str) -> Refused:
    with pytest.raises(Refused) as caught:
        policy(**env).decide(image)
    assert (caught.value.code, caught.value.rule, caught.value.reason) == (
        "forbidden",
        "image",
        "ImageNotAllowed",
    )
    assert caught.value.asked == [image]
    return caught.value


def test_by_default_only_the_configured_repository_runs_with_any_tag() -> None:
    assert "configured" in policy().decide(f"{DEFAULT_REPOSITORY}:1.13.3")
    assert "configured" in policy().decide(f"{DEFAULT_REPOSITORY}@sha256:{'a' * 64}")
    error = refusal("docker.io/attacker/miner:latest")
    assert "docker.io/attacker/miner" in error.message
    assert "INGESTION_ALLOWED_IMAGES" in error.message
    assert "config.ingestionPods.allowedImages" in error.message


def test_a_collate_values_files_image_and_the_tags_the_server_derives_are_allowed() -> None:
    """The public chart's values set INGESTION_IMAGE to Collate's ECR repository: the image the
    server names for another version of it runs; another repository there does not."""
    env = {"INGESTION_IMAGE": f"{COLLATE_IMAGE}:om-1.13.3-cl-1.13.3"}
    assert policy(**env).decide(f"{COLLATE_IMAGE}:om-1.14.0-cl-1.14.0")
    refusal(f"{COLLATE_ECR}/collate-something-else:om-1.14.0-cl-1.14.0", **env)


def test_docker_hub_names_are_compared_fully_qualified() -> None:
    env = {"INGESTION_IMAGE": "openmetadata/ingestion-base:1.13.3"}
    assert policy(**env).decide("docker.io/openmetadata/ingestion-base:1.13.4")
    assert policy(INGESTION_IMAGE="python:3.11").decide("docker.io/library/python:3.12")
    refusal("docker.io/openmetadata/ingestion:1.13.3", **env)


def test_patterns_allow_repositories_and_registries_besides_the_configured_one() -> None:
    env = {"INGESTION_ALLOWED_IMAGES": "registry.corp/ingestion/*, mirror.corp/openmetadata-*"}
    assert "registry.corp/ingestion/*" in policy(**env).decide("registry.corp/ingestion/a/b:1")
    assert policy(**env).decide("mirror.corp/openmetadata-base:2")
    assert policy(**env).decide(f"{DEFAULT_REPOSITORY}:1.13.3")  # the configured one still
    error = refusal("registry.corp/other:1", **env)
    assert "registry.corp/ingestion/*, mirror.corp/openmetadata-*" in error.message
    # A pattern is not a prefix: the registry must match whole.
    refusal("registry.corp.evil.example/ingestion/x:1", **env)


def test_digest_required_refuses_any_image_by_tag() -> None:
    env = {"INGESTION_IMAGE_DIGEST_REQUIRED": "true"}
    pinned = f"{DEFAULT_REPOSITORY}@sha256:{'b' * 64}"
    assert policy(**env).decide(pinned)
    error = refusal(f"{DEFAULT_REPOSITORY}:1.13.3", **env)
    assert "INGESTION_IMAGE_DIGEST_REQUIRED=true" in error.message


@pytest.mark.parametrize("pattern", ["registry.corp/ingestion:1.13", "registry.corp/x@sha256:ab"])
def test_a_pattern_with_a_tag_or_digest_stops_start_up_naming_the_variable(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"INGESTION_ALLOWED_IMAGES": pattern})
    assert caught.value.variable == "INGESTION_ALLOWED_IMAGES"
    assert "names a tag or digest" in caught.value.problem


def test_normalize_repository() -> None:
    assert normalize_repository("ubuntu") == "docker.io/library/ubuntu"
    assert normalize_repository("org/app") == "docker.io/org/app"
    assert normalize_repository("localhost/app") == "localhost/app"
    assert normalize_repository("registry:5000/app") == "registry:5000/app"
    assert normalize_repository("ghcr.io/org/app") == "ghcr.io/org/app"
