"""The ``argo`` and ``simpleK8s`` executors: placement per pipeline type, the customConfig spec
files, retention, watches and the pods' commands."""

from __future__ import annotations

from typing import Any

import attrs

from runtime.config.env_parsers import command, int_range, json_object, text
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class KubernetesExecutorSettings:
    """The ``argo`` and ``simpleK8s`` executors."""

    argo_pipeline_type_configs: dict[str, Any] = setting(  # noqa: RUF009 (metadata only, no default)
        "ARGO_PIPELINE_TYPE_CONFIGS",
        json_object,
        {},
        "Per pipeline type scheduling for `argo` (JSON; see the Collate docs).",
    )
    simplek8s_pipeline_type_configs: dict[str, Any] = setting(  # noqa: RUF009 (metadata only, no default)
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
        json_object,
        {},
        "Per pipeline type scheduling for `simpleK8s` (JSON).",
    )
    argo_workflow_spec_file: str = setting(
        "ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH",
        text,
        "",
        "YAML/JSON file (customConfig.workflowParams) merged into every Workflow spec; with "
        "`simpleK8s` each key that has a meaning for a Job goes to its Job field, the others "
        "are ignored with a warning naming them.",
    )
    argo_container_spec_file: str = setting(
        "ARGO_INGESTION_CONTAINER_SPEC_FILE_PATH",
        text,
        "",
        "YAML/JSON file (customConfig.containerParams) merged into every ingestion container "
        "(`argo` and `simpleK8s`).",
    )
    argo_ttl_seconds: int = setting(
        "ARGO_SECONDS_AFTER_COMPLETION_TTL",
        int_range(0, 31_536_000),
        86400,
        "Seconds a finished Workflow or Job is kept before Kubernetes deletes it.",
    )
    watch_stall_seconds: int = setting(
        "WATCH_STALL_SECONDS",
        int_range(5, 3600),
        90,
        "`argo`/`simpleK8s`: a watch stream silent this long is taken for a dead connection "
        "(a NAT or proxy dropped it) and watched again; the API server sends a bookmark at "
        "least once a minute, so below 60 quiet namespaces re-watch more often.",
    )
    pipeline_command: tuple[str, ...] = setting(
        "PIPELINE_COMMAND",
        command,
        ("python", "main.py"),
        "Command of pipeline pods.",
        default_doc="`python main.py`",
    )
    automation_command: tuple[str, ...] = setting(
        "AUTOMATION_COMMAND",
        command,
        ("python", "run_automation.py"),
        "Command of test-connection pods.",
        default_doc="`python run_automation.py`",
    )
