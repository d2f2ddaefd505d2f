"""Deterministic, Kubernetes-safe names for runs, so a re-sent launch finds its first object."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^a-z0-9-]+")
MAX_SLUG = 40


def run_name(run_id: str, prefix: str = "om") -> str:
    """``om-<slug of runId>-<8 hex of its sha256>``: a DNS-1123 label of at most 63 characters.

    The hash keeps two run ids that differ only in characters the slug drops apart.
    """
    slug = _UNSAFE.sub("-", run_id.lower()).strip("-")[:MAX_SLUG].strip("-") or "run"
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{prefix}-{slug}-{digest}"


def label_value(value: str) -> str:
    """A label-safe form of ``value`` (<= 63 chars, alphanumeric ends); hashed when it must be."""
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?", value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()[:63]
