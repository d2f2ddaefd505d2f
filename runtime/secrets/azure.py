"""Azure Key Vault as the secret store (``SECRETS_MANAGER=managed-azure-kv`` or ``azure-kv``).

OpenMetadata's Azure Key Vault secrets manager calls ``get_secret(<id>)`` on
``https://<AZURE_KEY_VAULT_NAME>.vault.azure.net``: the current version of the named secret.
``get_secret`` would hand the value to the runner, and Key Vault has no "get properties" call
for one secret, so the runner lists the properties of the secret's versions (metadata only,
``secrets/list`` permission, included in the "Key Vault Secrets User" role) and checks that the
newest version, the one ``get_secret`` returns, is enabled.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient, SecretProperties

from runtime.wire.errors import SecretForbidden, SecretNotFound, SecretStoreUnavailable

PROVIDERS = ("managed-azure-kv", "azure-kv")
_SECRET_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
# Pages of 25 versions; a secret with more than this many versions is unusual, and the
# newest is then assumed to be among those listed.
_MAX_PAGES = 8
_PAGE_SIZE = 25
_WORKLOAD_IDENTITY_HINT = (
    "give the runner an Azure identity: Azure Workload Identity (service account annotated "
    "azure.workload.identity/client-id, pods labelled azure.workload.identity/use=true) or "
    "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET"
)
_EPOCH = datetime.min.replace(tzinfo=UTC)


class AzureKeyVaultStore:
    """Checks ``secret:<name>`` in the Key Vault named by ``AZURE_KEY_VAULT_NAME``."""

    backend = "azure-kv"

    def __init__(
        self,
        provider: str = "managed-azure-kv",
        vault_name: str = "",
        *,
        vault_url: str | None = None,
        credential: TokenCredential | None = None,
        connection_verify: bool | str = True,
        verify_challenge_resource: bool = True,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        if not vault_name and not vault_url:
            raise ValueError("AZURE_KEY_VAULT_NAME is required for the Azure Key Vault store")
        self.provider = provider
        self.vault_name = vault_name
        # The URL OpenMetadata's Azure client builds from the vault name.
        self.vault_url = vault_url or f"https://{vault_name}.vault.azure.net"
        self._credential = credential
        self._client_options: dict[str, Any] = {
            "connection_verify": connection_verify,
            "verify_challenge_resource": verify_challenge_resource,
            "connection_timeout": connect_timeout,
            "read_timeout": read_timeout,
            # azure-core retries ten times by default; one retry suits a preflight.
            "retry_total": 1,
            "retry_backoff_factor": 0.2,
        }
        self._client: SecretClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AzureKeyVaultStore(provider={self.provider!r}, vault_url={self.vault_url!r})"

    def validate_id(self, secret_id: str) -> str | None:
        if _SECRET_NAME.fullmatch(secret_id):
            return None
        return (
            f"{secret_id!r} is not a Key Vault secret name: use 1-127 letters, digits and '-' "
            "(no '/' or '_'), e.g. secret:my-db-password for a secret created with "
            "`az keyvault secret set --vault-name <vault> --name my-db-password --value ...`"
        )

    def check(self, secret_id: str) -> None:
        client = self._secret_client()
        where = f"Key Vault secret {secret_id!r} in {self.vault_url}"
        try:
            versions = _list_versions(client, secret_id)
        except ResourceNotFoundError:
            raise SecretNotFound(f"no {where}") from None
        except ClientAuthenticationError as exc:
            raise SecretForbidden(
                f"no accepted Azure credential to read {where}: {_WORKLOAD_IDENTITY_HINT} "
                f"({_short(exc)})"
            ) from None
        except HttpResponseError as exc:
            status = exc.status_code or 0
            if status == 403:
                raise SecretForbidden(
                    f"the runner may not list the versions of {where}: grant its identity the "
                    "'Key Vault Secrets User' role (or the 'list' and 'get' secret permissions "
                    f"of an access policy) ({_short(exc)})"
                ) from None
            raise SecretStoreUnavailable(
                f"Key Vault answered HTTP {status or '?'} for {where} ({_short(exc)})"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise SecretStoreUnavailable(f"cannot reach {self.vault_url}: {_short(exc)}") from None
        except AzureError as exc:
            raise SecretStoreUnavailable(
                f"Key Vault call for {where} failed: {type(exc).__name__}: {_short(exc)}"
            ) from None
        if not versions:
            raise SecretNotFound(f"{where} has no versions")
        newest = max(versions, key=lambda p: p.created_on or _EPOCH)
        if newest.enabled is False:
            raise SecretNotFound(
                f"the current version ({newest.version}) of {where} is disabled; enable it "
                "or set a new value"
            )

    def pod_env(self) -> dict[str, str]:
        return {"AZURE_KEY_VAULT_NAME": self.vault_name} if self.vault_name else {}

    def _secret_client(self) -> SecretClient:
        with self._lock:
            if self._client is None:
                credential = self._credential
                if credential is None:
                    # Imported here: azure-identity is only needed with this backend.
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential()
                self._client = SecretClient(self.vault_url, credential, **self._client_options)
            return self._client


def _list_versions(client: SecretClient, name: str) -> list[SecretProperties]:
    pages = client.list_properties_of_secret_versions(name, max_page_size=_PAGE_SIZE).by_page()
    versions: list[SecretProperties] = []
    for index, page in enumerate(pages):
        versions.extend(page)
        if index + 1 >= _MAX_PAGES:
            break
    return versions


def _short(exc: BaseException) -> str:
    """An Azure error's text on one line; azure-identity's can run to many lines."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "message", None):
        # Key Vault's own error document: its code and message, without the SDK's repetition.
        text = f"{error.code}: {error.message}"
    else:
        text = str(getattr(exc, "message", None) or exc)
    return " ".join(text.split())[:400]
