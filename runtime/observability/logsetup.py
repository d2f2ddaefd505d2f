"""Logging set-up: text or one-JSON-object-per-line, with secrets redacted as defence in depth.

Code should never log a secret in the first place; the redacting filter catches the token and any
registered secret text that slips into a message, an argument or a traceback anyway.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

REDACTED = "***"
_CONTEXT_FIELDS = ("request_id", "run_id", "message_type")


class Redactor(logging.Filter):
    """Replaces registered secret strings in the rendered message and exception text."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        # Very short strings would redact ordinary words; tokens and passwords are longer.
        if secret and len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


redactor = Redactor()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                data[field] = value
        # An audit record (runtime.policy) carries its fields for machines to read.
        data.update(getattr(record, "audit", None) or {})
        if record.exc_info:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


_JSON = JsonFormatter()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "audit", None):
            # Audit lines are JSON in either format: one object per refusal, for log shippers.
            return _JSON.format(record)
        text = super().format(record)
        context = " ".join(
            f"{f}={getattr(record, f)}" for f in _CONTEXT_FIELDS if getattr(record, f, None)
        )
        return f"{text} [{context}]" if context else text


def configure(level: str = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """Install one handler on the root logger; safe to call more than once."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_hybrid_runner", False):
            root.removeHandler(old)
    handler._hybrid_runner = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Client libraries log request headers at DEBUG; keep them quieter than the runner.
    for noisy in ("urllib3", "botocore", "azure", "kubernetes", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.INFO))


def request_logger(
    base: logging.Logger, **context: str | None
) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records carry request/run ids (fields of the JSON format)."""
    return logging.LoggerAdapter(base, {k: v for k, v in context.items() if v is not None})
