"""OpenMetadata's pipeline types: the keys of every per pipeline type setting.

Placement (``*_PIPELINE_TYPE_CONFIGS``) and the cap on active runs
(``MAX_ACTIVE_RUNS_PER_TYPE``) are keyed by them, and both refuse an unknown key at start-up
with a suggestion (``suggest``): a misspelt type would otherwise silently configure nothing.
"""

from __future__ import annotations

import difflib
from typing import Any

#: OpenMetadata's ``PipelineType`` enum (ingestionPipeline.json), plus ``automation``.
PIPELINE_TYPES = (
    "metadata",
    "usage",
    "lineage",
    "profiler",
    "autoClassification",
    "TestSuite",
    "dataInsight",
    "elasticSearchReindex",
    "dbt",
    "application",
    "policyAgent",
    "automation",
)


def suggest(pipeline_type: Any) -> str:
    """What to say after "unknown pipeline type": the type meant, or the known ones."""
    text = str(pipeline_type)
    for known in PIPELINE_TYPES:
        if known.lower() == text.lower():
            return f" (did you mean {known!r}? pipeline types are case-sensitive)"
    close = difflib.get_close_matches(text, PIPELINE_TYPES, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; expected one of {', '.join(PIPELINE_TYPES)}"
