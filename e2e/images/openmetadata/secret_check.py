"""What the OpenMetadata-like test image's two entrypoints share: resolve one secret, report it.

The kind tier runs this image to prove, on real pods, that an ingestion pod started by the runner
can do what OpenMetadata's own ingestion image does before it talks to the server: parse the
`config` env with OpenMetadata's models, build OpenMetadata's secrets manager from the provider
and loader in that config (the `kubernetes` store in-cluster, through the pod's ServiceAccount),
and read the connection's password through OpenMetadata's secret type. It prints a digest of the
value, never the value.

OpenMetadata does not fail when a `secret:` reference does not resolve: `get_secret_value()` logs
an error and returns the literal reference (or, for the Kubernetes store and a missing Secret, an
empty string; with provider `db`, the bare id). This module turns each of those into exit code 3
with a line naming the reference, so a test sees the failure a real run would hide.

Everything at module level is standard library plus PyYAML, so the unit tests import it without
openmetadata-ingestion; OpenMetadata's modules are imported inside `resolve` only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

PREFIX = "openmetadata-check:"
SECRET = "secret:"  # OpenMetadata's marker (metadata.ingestion.models.custom_pydantic.SECRET)
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNRESOLVED = 3


class SecretValue(Protocol):
    """OpenMetadata's `CustomSecretStr` (a pydantic SecretStr resolved through the manager)."""

    def get_secret_value(self, skip_secret_manager: bool = False) -> str: ...


class ConfigError(Exception):
    """The `config` env is missing, not a mapping, or not what OpenMetadata's models accept."""


@dataclass(frozen=True)
class Resolution:
    """What reading a secret gave: the value (None when it raised) and the errors seen."""

    value: str | None
    errors: tuple[str, ...] = ()


def load_config_text(text: str | None) -> dict[str, Any]:
    """Parse `config` as OpenMetadata's entrypoints do (YAML, so JSON text too)."""
    if not text or not text.strip():
        raise ConfigError("environment variable `config` is missing or empty")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"`config` is neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"`config` must be a mapping, got {type(data).__name__}")
    return data


def validation_summary(exc: Exception) -> str:
    """A pydantic ValidationError without the input values (they may hold a password)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return type(exc).__name__
    try:
        items = errors(include_input=False, include_url=False)
    except TypeError:
        return type(exc).__name__
    shown = "; ".join(
        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
        for item in items[:5]
    )
    more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
    return f"{len(items)} validation error(s): {shown}{more}"


def reference_of(raw: str) -> str | None:
    """The `secret:` reference text, or None for a plain value."""
    return raw if raw.startswith(SECRET) else None


def unresolved_reason(reference: str, resolution: Resolution) -> str | None:
    """Why a reference did not resolve, or None when it did.

    OpenMetadata's outcomes for a reference that did not resolve: the literal reference (the
    store raised and `get_secret_value` swallowed it), None or "" (the Kubernetes store's answer
    for a missing Secret, turned into ""), the bare id (provider `db`: no store at all).
    """
    secret_id = reference.replace(SECRET, "")  # what OpenMetadata passes to the store
    errors = "; ".join(resolution.errors)
    detail = f" ({errors})" if errors else ""
    value = resolution.value
    if value is None:
        return errors or "reading it raised"
    if value == reference:
        return f"OpenMetadata returned the literal reference{detail}"
    if value == "":
        return f"OpenMetadata returned an empty value (missing secret or no `value` key){detail}"
    if value == secret_id:
        return (
            "OpenMetadata returned the bare id: the provider resolves nothing "
            f"(provider db or unset){detail}"
        )
    return None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def home_dir() -> str:
    return os.environ.get("HOME") or str(Path.home())


def result_line(provider: str, loader: str, reference: str | None, value: str) -> str:
    """The success line: identity of the process, the store, the reference and a digest."""
    return (
        f"{PREFIX} uid={os.getuid()} home={home_dir()} cwd={Path.cwd()} "
        f"provider={provider} loader={loader} reference={reference or 'none'} "
        f"sha256={sha256_hex(value)}"
    )


def failure_line(reference: str, reason: str) -> str:
    return f"{PREFIX} secret reference {reference} did not resolve: {reason}"


def report(provider: str, loader: str, raw: str, resolution: Resolution) -> tuple[int, str]:
    """Exit code and line for a password whose stored text is `raw` (never printed unless it
    is a `secret:` reference)."""
    reference = reference_of(raw)
    if reference is not None:
        reason = unresolved_reason(reference, resolution)
        if reason is not None:
            return EXIT_UNRESOLVED, failure_line(reference, reason)
    if resolution.value is None:  # a plain password: only the secrets manager can have failed
        errors = "; ".join(resolution.errors) or "reading it raised"
        return EXIT_UNRESOLVED, f"{PREFIX} the password could not be read: {errors}"
    return EXIT_OK, result_line(provider, loader, reference, resolution.value)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def openmetadata_errors() -> Iterator[list[str]]:
    """Collect what OpenMetadata's loggers (under `metadata`) warn about while it runs."""
    handler = _Collect()
    logger = logging.getLogger("metadata")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def name_of(enum_or_none: Any) -> str:
    value = getattr(enum_or_none, "value", enum_or_none)
    return "none" if value is None else str(value)


def resolve(provider: Any, loader: Any, secret: SecretValue) -> Resolution:
    """Build OpenMetadata's secrets manager as its client does, then read `secret` through it."""
    from metadata.utils.secrets.secrets_manager_factory import (
        SecretsManagerFactory,
    )

    with openmetadata_errors() as errors:
        try:
            # The same call OpenMetadata's client makes when a workflow starts (ometa_api.py).
            SecretsManagerFactory(provider, loader)
        except Exception as exc:
            return Resolution(None, (*errors, f"secrets manager: {type(exc).__name__}: {exc}"))
        try:
            value = secret.get_secret_value()
        except Exception as exc:
            return Resolution(None, (*errors, f"{type(exc).__name__}: {exc}"))
        return Resolution(value, tuple(errors))


def check(provider: Any, loader: Any, secret: SecretValue | None) -> int:
    """Resolve the password, print the line, return the exit code."""
    if secret is None:
        print(f"{PREFIX} the connection has no authType.password", file=sys.stderr)
        return EXIT_CONFIG
    raw = secret.get_secret_value(skip_secret_manager=True)  # the text the config carried
    resolution = resolve(provider, loader, secret)
    code, line = report(name_of(provider), name_of(loader), raw, resolution)
    print(line, flush=True)
    return code


def config_failure(exc: Exception) -> int:
    """Print why `config` was refused; never the config itself."""
    detail = str(exc) if isinstance(exc, ConfigError) else validation_summary(exc)
    print(f"{PREFIX} config refused: {detail}", file=sys.stderr, flush=True)
    return EXIT_CONFIG


def attribute_path(obj: Any, *names: str) -> Any:
    """`obj.a.b.c`, or None as soon as a step is missing or None."""
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj
