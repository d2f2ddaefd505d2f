"""Which ingestion image a run uses.

The per-request image wins; else INGESTION_IMAGE, whose tag dynamic versioning replaces with the
one derived from the server version (``1.11.1`` -> ``om-1.11.1-cl-1.11.1``).
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$")


def dynamic_tag(server_version: str) -> str | None:
    """The Collate ingestion tag for a server version, or None if it is not a release version."""
    version = server_version.strip().lstrip("v")
    if not _VERSION.match(version):
        return None
    return f"om-{version}-cl-{version}"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/repo:tag@digest`` -> (``registry:5000/repo``, ``tag``, ``digest``)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def resolve_image(
    configured: str, *, requested: str | None, dynamic: bool, server_version: str
) -> str:
    """The image for one run. A pinned digest is never re-tagged."""
    if requested:
        return requested
    if not configured:
        return ""
    repo, _tag, digest = split_image(configured)
    if digest or not dynamic:
        return configured
    derived = dynamic_tag(server_version) if server_version else None
    if derived is None:
        return configured
    return f"{repo}:{derived}"
