"""Which ingestion image a run uses, so that a runner configured with nothing else still runs.

The per-request ``image`` wins. Else the repository is INGESTION_IMAGE's, or by default
OpenMetadata's public ingestion image for containers,
``docker.getcollate.io/openmetadata/ingestion-base`` (the image OpenMetadata's Docker-operator
and ECS docs run: ``python main.py`` / ``python run_automation.py`` in its working directory,
user ``openmetadata``; ``openmetadata/ingestion`` is the Airflow image). The tag:

* with dynamic versioning (DYNAMIC_INGESTION_VERSION_ENABLED, the default) and a server that
  reported a release version: derived from that version, in the repository's scheme:
  OpenMetadata tags its images with the plain version (``1.13.3``); Collate's own images use
  ``om-<version>-cl-<version>`` (``om-1.13.3-cl-1.13.3``). The scheme is Collate's when the
  configured tag already has that shape, or the repository is Collate's: its name starts with
  ``collate-`` (``collate-customers-ingestion-slim-eu-west-1``, ``collate-base``) or it lives in
  Collate's ECR registry (account ``118146679784``);
* otherwise INGESTION_IMAGE's own tag;
* with neither, no image: the launch fails with ``launch_failed`` naming INGESTION_IMAGE (there
  is no guessed default tag: an ingestion client of another version than the server's stops at
  start, see INGESTION_DISABLE_VERSION_VALIDATION).

A pinned digest is never re-tagged.

``ImagePolicy`` is the operator's limit on all of this (INGESTION_ALLOWED_IMAGES,
INGESTION_IMAGE_DIGEST_REQUIRED): a request's ``image``, or any image the runner would use,
outside it is refused with ``Refused`` (wire code ``forbidden``) before anything is created.
Patterns are globs on the repository (``fnmatch``, ``*`` also crosses ``/``); tags are free.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

import attrs

from runtime.wire.errors import Refused

if TYPE_CHECKING:
    from runtime.settings import Settings

DEFAULT_REPOSITORY = "docker.getcollate.io/openmetadata/ingestion-base"
COLLATE_ECR = re.compile(r"^118146679784\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$")
COLLATE_NAME_PREFIX = "collate-"

_VERSION = re.compile(r"^\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$")
_COLLATE_TAG = re.compile(r"^om-.+-cl-.+$")
IMAGES_VARIABLE = "INGESTION_ALLOWED_IMAGES"
DIGEST_VARIABLE = "INGESTION_IMAGE_DIGEST_REQUIRED"
IMAGE_RULE = "image"
_CHART_IMAGES = "config.ingestionPods.allowedImages"


def dynamic_tag(server_version: str, *, collate: bool) -> str | None:
    """The ingestion tag for a server version in OpenMetadata's (``1.13.3``) or Collate's
    (``om-1.13.3-cl-1.13.3``) scheme, or None if it is not a release version."""
    version = server_version.strip().lstrip("v")
    if not _VERSION.match(version):
        return None
    return f"om-{version}-cl-{version}" if collate else version


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/repo:tag@digest`` -> (``registry:5000/repo``, ``tag``, ``digest``)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def is_collate_image(repository: str, tag: str | None = None) -> bool:
    """Whether tags of ``repository`` follow Collate's ``om-X-cl-Y`` scheme (module docstring)."""
    if tag and _COLLATE_TAG.match(tag):
        return True
    parts = repository.split("/")
    registry = parts[0] if len(parts) > 1 else ""
    return bool(COLLATE_ECR.match(registry)) or parts[-1].startswith(COLLATE_NAME_PREFIX)


def resolve_image(
    configured: str, *, requested: str | None, dynamic: bool, server_version: str
) -> str:
    """The image for one run, or ``""`` when no tag can be known (see the module docstring)."""
    if requested:
        return requested
    repo, tag, digest = split_image(configured or DEFAULT_REPOSITORY)
    if digest:
        return configured
    if dynamic and server_version:
        derived = dynamic_tag(server_version, collate=is_collate_image(repo, tag))
        if derived is not None:
            return f"{repo}:{derived}"
    return f"{repo}:{tag}" if tag else ""


def missing_tag_warning(configured: str, *, dynamic: bool) -> str | None:
    """A start-up warning when, with dynamic versioning off, no run could get an image."""
    repo, tag, digest = split_image(configured or DEFAULT_REPOSITORY)
    if dynamic or tag or digest:
        return None
    return (
        f"INGESTION_IMAGE has no tag ({repo}) and DYNAMIC_INGESTION_VERSION_ENABLED=false: "
        "every launch fails unless its request names an image; set "
        f"INGESTION_IMAGE={repo}:<tag>"
    )


def normalize_repository(repository: str) -> str:
    """The fully qualified name a container runtime pulls: ``ubuntu`` is
    ``docker.io/library/ubuntu``, ``org/app`` is ``docker.io/org/app``; a first part that looks
    like a host (a dot, a port, ``localhost``) is a registry and is kept."""
    parts = repository.split("/")
    if len(parts) == 1:
        return f"docker.io/library/{repository}"
    first = parts[0]
    if "." in first or ":" in first or first == "localhost":
        return repository
    return f"docker.io/{repository}"


@attrs.frozen(kw_only=True)
class ImagePolicy:
    """Which images ingestion may run (INGESTION_ALLOWED_IMAGES and its digest rule)."""

    patterns: tuple[str, ...]
    #: The configured repository (INGESTION_IMAGE's, else the default): always allowed.
    configured: str
    digest_required: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ImagePolicy:
        configured, _tag, _digest = split_image(settings.ingestion_image or DEFAULT_REPOSITORY)
        return cls(
            patterns=tuple(settings.allowed_images),
            configured=configured,
            digest_required=settings.image_digest_required,
        )

    def decide(self, image: str) -> str:
        """Why ``image`` is allowed (for dry runs and logs); raises ``Refused`` if it is not."""
        repository, _tag, digest = split_image(image)
        if self.digest_required and not digest:
            raise self._refuse(
                image,
                f"it is not pinned by digest and {DIGEST_VARIABLE}=true (write "
                f"{repository}@sha256:...)",
            )
        if normalize_repository(repository) == normalize_repository(self.configured):
            return f"allowed: the configured repository {self.configured} (INGESTION_IMAGE)"
        names = {repository, normalize_repository(repository)}
        for pattern in self.patterns:
            if any(fnmatchcase(name, pattern) for name in names):
                return f"allowed: repository {repository} matches {IMAGES_VARIABLE} {pattern!r}"
        listed = f"matches none of {IMAGES_VARIABLE} ({', '.join(self.patterns)})"
        if not self.patterns:
            listed = (
                f"is not the configured repository {self.configured}, and {IMAGES_VARIABLE} "
                "is empty"
            )
        raise self._refuse(
            image,
            f"repository {repository} {listed}; allow it in {IMAGES_VARIABLE} "
            f"(chart: {_CHART_IMAGES})",
        )

    @staticmethod
    def _refuse(image: str, why: str) -> Refused:
        return Refused(
            f"image {image!r} is not allowed: {why}",
            rule=IMAGE_RULE,
            reason="ImageNotAllowed",
            asked=[image],
        )
