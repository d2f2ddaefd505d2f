"""Which ``secret:`` ids requests may name: SECRETS_ALLOWED_REFERENCES, the operator's limit.

Checked before the store is asked anything, and even when the preflight is off: a server
outside the scope learns nothing about which secrets exist, and no pod is made to read one.
Patterns are globs (``fnmatch``, case-sensitive; ``*`` also crosses ``/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase

import attrs

from runtime.wire.errors import Refused

SECRETS_VARIABLE = "SECRETS_ALLOWED_REFERENCES"
SECRET_RULE = "secret_reference"
_CHART_SECRETS = "config.allowedSecretReferences"


@attrs.frozen(kw_only=True)
class SecretScope:
    """Which ``secret:`` ids requests may name (SECRETS_ALLOWED_REFERENCES; empty: any)."""

    patterns: tuple[str, ...]

    def check(
        self,
        references: Iterable[tuple[str, str]],
        names_of: Callable[[str], tuple[str, ...]] = lambda secret_id: (secret_id,),
    ) -> None:
        """Refuse every (JSON path, id) whose id, or another name the store knows it by
        (``names_of``: GCP's full resource name), matches no pattern. Nothing is asked of the
        store, so a refusal says nothing about whether the secret exists."""
        if not self.patterns:
            return
        outside = [
            (path, secret_id)
            for path, secret_id in references
            if not any(
                fnmatchcase(name, pattern)
                for name in names_of(secret_id)
                for pattern in self.patterns
            )
        ]
        if not outside:
            return
        listed = "; ".join(f"secret:{secret_id} at {path}" for path, secret_id in outside)
        raise Refused(
            f"secret reference(s) outside {SECRETS_VARIABLE} ({', '.join(self.patterns)}; "
            f"chart: {_CHART_SECRETS}): {listed}",
            rule=SECRET_RULE,
            reason="SecretNotAllowed",
            asked=[f"secret:{secret_id}" for _path, secret_id in outside],
        )
