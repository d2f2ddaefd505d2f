"""Google Cloud Secret Manager as the secret store (``SECRETS_MANAGER=gcp``).

OpenMetadata's GCP secrets manager takes the reference's id and reads
``projects/<GOOGLE_CLOUD_PROJECT>/secrets/<id>/versions/latest`` (it always builds that name
itself, so the id must be a bare secret id). The runner checks the same version with
``GetSecretVersion``, which returns the version's metadata and state, never its payload.
"""

from __future__ import annotations

import re
import threading

import google.auth
import google.auth.exceptions
from google.api_core import exceptions as gexc
from google.cloud import secretmanager

from runtime.wire.errors import SecretForbidden, SecretNotFound, SecretStoreUnavailable

#: The version OpenMetadata reads (``FIXED_VERSION_ID`` in its GCP secrets manager).
VERSION = "latest"
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESOURCE_NAME = re.compile(r"projects/([^/]+)/secrets/([^/]+)(?:/versions/([^/]+))?")
_UNSET = object()


class GcpSecretStore:
    """Checks ``secret:<id>`` as ``projects/<project>/secrets/<id>/versions/latest``."""

    provider = "gcp"
    backend = "gcp"

    def __init__(
        self,
        project: str | None = None,
        *,
        client: secretmanager.SecretManagerServiceClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._project = project or None
        self._client = client
        self.timeout = timeout
        self._lock = threading.Lock()
        # The project found through Application Default Credentials, once looked up.
        self._adc_project: object = _UNSET

    def __repr__(self) -> str:
        return f"GcpSecretStore(project={self._project!r})"

    def scope_names(self, secret_id: str) -> tuple[str, ...]:
        """The names SECRETS_ALLOWED_REFERENCES may match: the id as written and, when
        GOOGLE_CLOUD_PROJECT is set, the secret's resource name (``projects/p/secrets/id``)."""
        if self._project is None:
            return (secret_id,)
        return (secret_id, f"projects/{self._project}/secrets/{secret_id}")

    def validate_id(self, secret_id: str) -> str | None:
        if _SECRET_ID.fullmatch(secret_id):
            return None
        full = _RESOURCE_NAME.fullmatch(secret_id)
        if full:
            # OpenMetadata would read projects/<p>/secrets/projects/<p>/secrets/... and fail.
            return (
                f"{secret_id!r} is a full resource name, but OpenMetadata's GCP secrets manager "
                f"builds projects/<GOOGLE_CLOUD_PROJECT>/secrets/<id>/versions/{VERSION} "
                f"itself: write secret:{full.group(2)}"
            )
        return (
            f"{secret_id!r} is not a GCP secret id: use the bare id (1-255 of letters, digits, "
            "'_' and '-'), e.g. secret:my-db-password; ingestion reads "
            f"projects/<GOOGLE_CLOUD_PROJECT>/secrets/<id>/versions/{VERSION}"
        )

    def check(self, secret_id: str) -> None:
        client, project = self._connect()
        name = f"projects/{project}/secrets/{secret_id}/versions/{VERSION}"
        try:
            # No retry: an unavailable store is reported at once and the server may resend.
            version = client.get_secret_version(name=name, retry=None, timeout=self.timeout)
        except gexc.NotFound:
            raise SecretNotFound(
                f"no GCP secret version {name} (no such secret, or it has no versions)"
            ) from None
        except gexc.PermissionDenied as exc:
            # secretAccessor alone (what the pods need) does not include versions.get.
            raise SecretForbidden(
                f"the runner may not read the metadata of {name}: grant its identity "
                "roles/secretmanager.viewer (secretmanager.versions.get) on the secret, and the "
                f"ingestion pods' identity roles/secretmanager.secretAccessor ({exc.message})"
            ) from None
        except gexc.Unauthenticated as exc:
            raise SecretForbidden(
                f"GCP rejected the runner's credentials reading {name}: check Workload "
                f"Identity or GOOGLE_APPLICATION_CREDENTIALS ({exc.message})"
            ) from None
        except gexc.GoogleAPICallError as exc:
            # Server and transport errors (UNAVAILABLE, DEADLINE_EXCEEDED, ...) and anything
            # unexpected: the store could not answer, so preflight cannot say more.
            status = exc.grpc_status_code
            code = status.name if status is not None else type(exc).__name__
            raise SecretStoreUnavailable(
                f"GCP Secret Manager answered {code} for {name}: {exc.message}"
            ) from None
        except (google.auth.exceptions.GoogleAuthError, OSError) as exc:
            raise SecretStoreUnavailable(
                f"cannot call GCP Secret Manager for {name}: {exc}"
            ) from None
        state = secretmanager.SecretVersion.State(version.state)
        if state != secretmanager.SecretVersion.State.ENABLED:
            raise SecretNotFound(
                f"the latest version of GCP secret {name} ({version.name}) is {state.name}; "
                "add or enable a version"
            )

    def pod_env(self) -> dict[str, str]:
        project = self._project or self._project_from_adc()
        return {"GOOGLE_CLOUD_PROJECT": project} if project else {}

    def _connect(self) -> tuple[secretmanager.SecretManagerServiceClient, str]:
        with self._lock:
            project = self._project or self._project_from_adc()
            if not project:
                raise SecretStoreUnavailable(
                    "no GCP project: set GOOGLE_CLOUD_PROJECT (ingestion needs it too)",
                    retryable=False,
                )
            if self._client is None:
                try:
                    self._client = secretmanager.SecretManagerServiceClient()
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise SecretForbidden(_no_credentials(exc)) from None
            return self._client, project

    def _project_from_adc(self) -> str | None:
        """The project of Application Default Credentials (may ask the metadata server once)."""
        if self._adc_project is _UNSET:
            try:
                _credentials, project = google.auth.default()
            except google.auth.exceptions.DefaultCredentialsError:
                project = None
            self._adc_project = project or None
        return self._adc_project if isinstance(self._adc_project, str) else None


def _no_credentials(exc: Exception) -> str:
    return (
        "no Google credentials for the runner: use Workload Identity for its service account "
        f"or set GOOGLE_APPLICATION_CREDENTIALS ({exc})"
    )
