"""Deterministic, Kubernetes-safe names for runs and schedules, so a re-sent launch or deploy
finds its first object."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^a-z0-9-]+")
MAX_SLUG = 40


def _slugged(value: str, prefix: str, *, max_slug: int, empty: str) -> str:
    """``<prefix>-<slug of value>-<8 hex of its sha256>``."""
    slug = _UNSAFE.sub("-", value.lower()).strip("-")[:max_slug].strip("-") or empty
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{prefix}-{slug}-{digest}"


def run_name(run_id: str, prefix: str = "om") -> str:
    """``om-<slug of runId>-<8 hex of its sha256>``: a DNS-1123 label of at most 63 characters.

    The hash keeps two run ids that differ only in characters the slug drops apart.
    """
    return _slugged(run_id, prefix, max_slug=MAX_SLUG, empty="run")


def schedule_name(pipeline_fqn: str) -> str:
    """Deterministic name of a pipeline's CronWorkflow/CronJob: at most 52 characters.

    52 because the CronJob controller appends ``-<11 digits>`` to name each Job it creates.
    """
    return _slugged(pipeline_fqn, "omsched", max_slug=32, empty="pipeline")


def label_value(value: str) -> str:
    """A label-safe form of ``value`` (<= 63 chars, alphanumeric ends); hashed when it must be."""
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?", value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()[:63]
