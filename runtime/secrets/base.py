"""The SecretStore protocol and the secret-reference rules shared by every backend.

A connection form holds ``secret:<id>``; the id is used verbatim by OpenMetadata's ingestion
secrets managers, so the runner checks exactly that id in the configured store. Backends only
answer "does this id exist and may I read it"; they never return a value to the runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

SECRET_PREFIX = "secret:"


class SecretStore(Protocol):
    """One backend (kubernetes, aws, azure, gcp)."""

    #: The ``SECRETS_MANAGER`` value this store serves, as written in the workflow config.
    provider: str
    #: Short backend name used in errors and metric labels.
    backend: str

    def validate_id(self, secret_id: str) -> str | None:
        """Why ``secret_id`` cannot name a secret here (with the accepted form), or None."""
        ...

    def check(self, secret_id: str) -> None:
        """Succeed if the secret exists and is readable.

        Raises SecretNotFound, SecretForbidden or SecretStoreUnavailable (runtime.wire.errors).
        """
        ...

    def pod_env(self) -> dict[str, str]:
        """Variables OpenMetadata's ``env`` secrets loader reads for this backend."""
        ...


def find_references(document: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every ``secret:`` reference in a JSON document as (JSON path, secret id), any depth."""
    if isinstance(document, str):
        if document.startswith(SECRET_PREFIX):
            yield path, document[len(SECRET_PREFIX) :]
    elif isinstance(document, dict):
        for key, value in document.items():
            yield from find_references(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from find_references(value, f"{path}[{index}]")
