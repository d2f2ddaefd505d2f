"""Secret references: the store they live in (``runtime.config.backends.SECRETS_MANAGERS``) and
the preflight."""

from __future__ import annotations

import attrs

from runtime.config.backends import SECRETS_MANAGERS
from runtime.config.env_parsers import choice, parse_bool, positive_float, text
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class SecretsSettings:
    """Secret references."""

    secrets_manager: str = setting(
        "SECRETS_MANAGER",
        choice(SECRETS_MANAGERS),
        "kubernetes",
        "Where `secret:` references live: " + ", ".join(f"`{s}`" for s in SECRETS_MANAGERS) + ".",
    )
    secrets_preflight: bool = setting(
        "SECRETS_PREFLIGHT",
        parse_bool,
        True,
        "Check every `secret:` reference exists before launching.",
    )
    secrets_preflight_timeout: float = setting(
        "SECRETS_PREFLIGHT_TIMEOUT_SECONDS",
        positive_float,
        10.0,
        "Time limit of one preflight.",
    )
    azure_key_vault_name: str = setting(
        "AZURE_KEY_VAULT_NAME",
        text,
        "",
        "Key Vault for `managed-azure-kv` / `azure-kv`.",
    )
    aws_region: str = setting(
        "AWS_DEFAULT_REGION",
        text,
        "",
        "AWS region for `managed-aws` / `aws` (also `AWS_REGION`).",
        fallback="AWS_REGION",
    )
    gcp_project: str = setting(
        "GOOGLE_CLOUD_PROJECT",
        text,
        "",
        "GCP project for `gcp` (else from the credentials).",
    )
