"""The chart names the backends the runner declares (``runtime.config.backends``), so adding
an executor or a secret store fails here until the chart's schema, values.yaml and README
agree with it: the schema's enums are exactly the declared names, and values.yaml and
helm/README.md name each one."""

from __future__ import annotations

import json
import re
from typing import Any

from runtime.config.backends import SECRETS_MANAGERS
from tests.helm.helmkit import CHART_DIR, CHART_EXECUTORS

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
VALUES = (CHART_DIR / "values.yaml").read_text()
README = (CHART_DIR / "README.md").read_text()


def _comment_above(key: str) -> str:
    """values.yaml's ``# --`` comment of ``key`` (the lines right above it)."""
    lines = VALUES.splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf"\s*{key}:", line))
    comment: list[str] = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            break
        comment.insert(0, line.strip().lstrip("#").strip())
    return " ".join(comment)


def _readme_row(key: str) -> str:
    return next(line for line in README.splitlines() if line.startswith(f"| `{key}` |"))


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9-]+", text))


def test_the_schema_offers_exactly_the_declared_stores() -> None:
    manager = SCHEMA["properties"]["config"]["properties"]["secretsManager"]
    assert manager["enum"] == list(SECRETS_MANAGERS)


def test_the_schema_offers_exactly_the_executors_that_run_pods() -> None:
    # Empty infers one from the Argo settings.
    assert SCHEMA["properties"]["executor"]["enum"] == ["", *CHART_EXECUTORS]


def test_values_yaml_and_the_readme_name_every_store() -> None:
    for text in (_comment_above("secretsManager"), _readme_row("config.secretsManager")):
        assert set(SECRETS_MANAGERS) <= _names_in(text), text


def test_values_yaml_and_the_readme_name_every_executor() -> None:
    for text in (_comment_above("executor"), _readme_row("executor")):
        assert set(CHART_EXECUTORS) <= _names_in(text), text
