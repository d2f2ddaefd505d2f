"""What the server may ask for: the images ingestion may run and the secrets it may name.

The operator sets these; nothing in a request can widen them (README, "Security model").
"""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import csv, parse_bool
from runtime.config.fields import setting


def image_patterns(raw: str) -> tuple[str, ...]:
    """Repository patterns: a tag or digest in one would never match (tags are free)."""
    patterns = csv(raw)
    for pattern in patterns:
        if "@" in pattern or ":" in pattern.rsplit("/", 1)[-1]:
            raise ValueError(
                f"{pattern!r} names a tag or digest; patterns name repositories "
                "(e.g. registry.corp/ingestion or registry.corp/*), any tag is allowed"
            )
    return patterns


@attrs.frozen(kw_only=True, slots=False)
class PolicySettings:
    """The boundary the server's requests are held to."""

    allowed_images: tuple[str, ...] = setting(
        "INGESTION_ALLOWED_IMAGES",
        image_patterns,
        (),
        "Comma-separated repositories ingestion pods may run besides INGESTION_IMAGE's own "
        "(glob patterns; `*` crosses `/`, so `registry.corp/*` is a whole registry), whatever "
        "the tag; a request's `image` elsewhere is refused (`forbidden`, run failed "
        "`ImageNotAllowed`). Empty: INGESTION_IMAGE's repository (or the default one) only.",
    )
    image_digest_required: bool = setting(
        "INGESTION_IMAGE_DIGEST_REQUIRED",
        parse_bool,
        False,
        "`true`: every ingestion image must be pinned by digest (`repo@sha256:...`); one "
        "without is refused like an image outside INGESTION_ALLOWED_IMAGES.",
    )
    allowed_secret_references: tuple[str, ...] = setting(
        "SECRETS_ALLOWED_REFERENCES",
        csv,
        (),
        "Comma-separated glob patterns of the `secret:` ids requests may name (`/collate/*`, "
        "`collate-*`); any other is refused before the store is asked (`forbidden`, run "
        "failed `SecretNotAllowed`). Empty: any id (the store's own permissions decide).",
    )
