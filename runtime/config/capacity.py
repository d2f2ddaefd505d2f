"""Capacity and limits: how many runs may be active, how long one may run, and how long a pod
may wait for an image or a node before its run fails (README, "Capacity and limits")."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import int_range, per_type_limits
from runtime.config.fields import setting

#: 365 days: the largest deadline or grace accepted (a value above is a typo, not a policy).
_YEAR = 31_536_000


@attrs.frozen(kw_only=True, slots=False)
class CapacitySettings:
    """Caps on active runs, the default run deadline, and the pods' start-up graces."""

    max_active_runs: int = setting(
        "MAX_ACTIVE_RUNS",
        int_range(0, 100_000),
        0,
        "Runs active at once (started and not final, a pod still pending included); a run over "
        "the cap is accepted (`queued`) and starts in arrival order when a slot frees, its "
        "Workflow/Job waiting suspended in the cluster (`local`: its record in STATE_DIR). "
        "Scheduled runs count too: with a cap, CronWorkflows/CronJobs create their runs "
        "suspended. `0`: no cap.",
    )
    max_active_runs_per_type: dict[str, int] = setting(  # noqa: RUF009 (metadata only, no default)
        "MAX_ACTIVE_RUNS_PER_TYPE",
        per_type_limits,
        {},
        'Caps per pipeline type, a JSON object such as `{"profiler": 2}`, alone or within '
        "MAX_ACTIVE_RUNS; a run whose type is at its cap waits while runs of other types go "
        "ahead.",
    )
    run_timeout_seconds: int = setting(
        "RUN_TIMEOUT_SECONDS",
        int_range(0, _YEAR),
        21600,
        "Default deadline of a run, counted from when it starts (not while queued); past it the "
        "run fails with `DeadlineExceeded`. 6 h (OpenMetadata's own client uses 2 h, Buildkite "
        "6 h): room for a large ingestion, while a stuck run no longer holds its slot for days. "
        "A pipeline type's `activeDeadlineSeconds` in ARGO_PIPELINE_TYPE_CONFIGS / "
        "SIMPLEK8S_PIPELINE_TYPE_CONFIGS wins, and customConfig.workflowParams' over both. "
        "`0`: none.",
    )
    image_pull_grace: int = setting(
        "IMAGE_PULL_GRACE_SECONDS",
        int_range(0, _YEAR),
        120,
        "`argo`/`simpleK8s`: how long an ingestion pod may fail to pull its image (a registry "
        "that answers on a retry) before its run fails with `ImagePullBackOff`.",
    )
    unschedulable_grace: int = setting(
        "UNSCHEDULABLE_GRACE_SECONDS",
        int_range(0, _YEAR),
        900,
        "`argo`/`simpleK8s`: how long an ingestion pod may wait for a node before its run fails "
        "with `Unschedulable` (15 min: enough for a cluster autoscaler to add one). `0`: waits "
        "as long as it takes.",
    )
