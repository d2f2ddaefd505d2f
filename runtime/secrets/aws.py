"""AWS Secrets Manager as the secret store (``SECRETS_MANAGER=managed-aws`` or ``aws``).

OpenMetadata's AWS secrets manager calls ``GetSecretValue(SecretId=<id>)`` with the id verbatim.
The runner asks ``DescribeSecret`` instead: it answers "exists, not scheduled for deletion, and
I may see it" from metadata alone, so no secret value ever reaches the runner's process.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from runtime.wire.errors import SecretForbidden, SecretNotFound, SecretStoreUnavailable

PROVIDERS = ("managed-aws", "aws")
# CreateSecret's rule for names, and the ARN form GetSecretValue also accepts.
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)
_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)


class AwsSecretStore:
    """Checks ``secret:<SecretId>`` with ``secretsmanager:DescribeSecret``."""

    backend = "aws"

    def __init__(
        self,
        provider: str = "managed-aws",
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_pool_connections: int = 16,
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        self.provider = provider
        self.region = region or None
        self.endpoint_url = endpoint_url
        self._config = botocore.config.Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # One retry absorbs a dropped connection; more would outlast the preflight limit.
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=max_pool_connections,
        )
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AwsSecretStore(provider={self.provider!r}, region={self.region!r})"

    def validate_id(self, secret_id: str) -> str | None:
        if _NAME.fullmatch(secret_id) or _ARN.fullmatch(secret_id):
            return None
        return (
            f"{secret_id!r} is not an AWS Secrets Manager SecretId: use the secret's name "
            "(1-512 of letters, digits and /_+=.@-, e.g. secret:/my/database/password) or its "
            "ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
        )

    def check(self, secret_id: str) -> None:
        client = self._secretsmanager()
        where = f"AWS secret {secret_id!r}{self._in_region(client)}"
        try:
            described = client.describe_secret(SecretId=secret_id)
        except botocore.exceptions.ClientError as exc:
            raise _client_error(exc, where) from None
        except botocore.exceptions.NoCredentialsError:
            raise SecretForbidden(
                f"no AWS credentials to describe {where}: give the runner's service account an "
                "IAM role (IRSA or EKS Pod Identity) or set AWS credentials"
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            # Connection, timeout and credential-provider errors: their text names the
            # endpoint and the reason; DescribeSecret never carries a value anyway.
            raise SecretStoreUnavailable(
                f"cannot reach AWS Secrets Manager to describe {where}: {exc}"
            ) from None
        deleted = described.get("DeletedDate")
        if deleted is not None:
            when = deleted.isoformat() if hasattr(deleted, "isoformat") else str(deleted)
            raise SecretNotFound(
                f"{where} is scheduled for deletion (marked {when}); "
                "restore it with `aws secretsmanager restore-secret` or use another secret"
            )

    def pod_env(self) -> dict[str, str]:
        region = self.region
        if region is None:
            # The region boto3 would use (environment or ~/.aws/config); no network.
            region = self._client.meta.region_name if self._client else boto3.Session().region_name
        return {"AWS_DEFAULT_REGION": region} if region else {}

    def _secretsmanager(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    # A session per store: boto3's default session is not thread-safe.
                    self._client = boto3.session.Session().client(
                        "secretsmanager",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=self._config,
                    )
                except botocore.exceptions.NoRegionError:
                    raise SecretStoreUnavailable(
                        "no AWS region for Secrets Manager: set AWS_DEFAULT_REGION",
                        retryable=False,
                    ) from None
                except botocore.exceptions.BotoCoreError as exc:
                    raise SecretStoreUnavailable(
                        f"cannot create the AWS Secrets Manager client: {exc}"
                    ) from None
            return self._client

    def _in_region(self, client: Any) -> str:
        region = getattr(getattr(client, "meta", None), "region_name", None)
        return f" in region {region}" if isinstance(region, str) and region else ""


def _client_error(exc: botocore.exceptions.ClientError, where: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = _aws_message(str(error.get("Message", "")))
    detail = f" ({message})" if message else ""
    if code == "ResourceNotFoundException":
        return SecretNotFound(f"no {where}")
    if code in _CREDENTIAL_ERRORS:
        return SecretForbidden(f"AWS rejected the runner's credentials describing {where}{detail}")
    if code in ("AccessDeniedException", "AccessDenied") or status == 403:
        return SecretForbidden(
            f"the runner may not describe {where}: its IAM role needs "
            f"secretsmanager:DescribeSecret on the secret{detail}"
        )
    if code in ("ValidationException", "InvalidParameterException", "InvalidRequestException"):
        return SecretNotFound(f"AWS refused SecretId of {where}: {code}{detail}")
    return SecretStoreUnavailable(
        f"AWS Secrets Manager answered {code or status} describing {where}{detail}"
    )


def _aws_message(message: str) -> str:
    """AWS's own error text; some endpoints wrap it in an XML error document."""
    found = _XML_MESSAGE.search(message)
    text = found.group(1) if found else message
    return " ".join(text.split())[:500]
