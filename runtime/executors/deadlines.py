"""A run's deadline: which limit applies to it, and how a run that outlives it is reported.

Every run has one unless the operator turned it off: RUN_TIMEOUT_SECONDS (6 h by default), or
its pipeline type's ``activeDeadlineSeconds`` in ``ARGO_PIPELINE_TYPE_CONFIGS`` /
``SIMPLEK8S_PIPELINE_TYPE_CONFIGS``, or ``activeDeadlineSeconds`` in customConfig's
workflowParams, which wins over both (it is merged into the spec last). A run past it fails with
reason ``DeadlineExceeded`` and a message that says the limit and where to raise it.

The Kubernetes executors write the decision on the workload (``annotations``) as well as into
its spec: the limit (Argo's clock starts when a Workflow is created, suspended or not, so
``KubeExecutor`` sets it again, plus the time spent waiting, when it resumes a queued one) and
the message, which ``reconcile`` reports whichever of the Workflow, the Job or the pod says
first that the deadline passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from runtime.config.capacity import CapacitySettings

DEADLINE_SECONDS_ANNOTATION = "hybrid-runner.io/deadline-seconds"
DEADLINE_MESSAGE_ANNOTATION = "hybrid-runner.io/deadline-message"
DEADLINE_EXCEEDED = "DeadlineExceeded"
WORKFLOW_PARAMS = "customConfig.workflowParams (ARGO_INGESTION_WORKFLOW_SPEC_FILE_PATH)"


@attrs.frozen
class Deadline:
    """The limit of one run, in seconds, and what its failure says."""

    seconds: int
    message: str

    def annotations(self) -> dict[str, str]:
        return {
            DEADLINE_SECONDS_ANNOTATION: str(self.seconds),
            DEADLINE_MESSAGE_ANNOTATION: self.message,
        }

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Deadline | None:
        """The decision written on a workload (None: it has no deadline, or predates them)."""
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        try:
            seconds = int(annotations[DEADLINE_SECONDS_ANNOTATION])
        except (KeyError, TypeError, ValueError):
            return None
        return cls(seconds, str(annotations.get(DEADLINE_MESSAGE_ANNOTATION) or ""))


def decide(
    settings: CapacitySettings,
    *,
    pipeline_type: str,
    of_type: int | None = None,
    variable: str = "",
    workflow_params: Any = None,
    of_types: bool = True,
) -> Deadline | None:
    """The deadline of a run of ``pipeline_type``: customConfig's workflowParams value, else
    ``of_type`` (its ``activeDeadlineSeconds`` in ``variable``; 0 turns it off), else
    RUN_TIMEOUT_SECONDS (0 turns it off). ``of_types``: the executor has per type deadlines
    (the ``local`` one has not), so the message names them too."""
    if isinstance(workflow_params, int) and not isinstance(workflow_params, bool):
        where = f"activeDeadlineSeconds={workflow_params} in {WORKFLOW_PARAMS}"
        return _deadline(workflow_params, where, "raise it there")
    if of_type is not None:
        where = f"activeDeadlineSeconds={of_type} of pipeline type {pipeline_type} in {variable}"
        return _deadline(of_type, where, "raise it there")
    seconds = settings.run_timeout_seconds
    hint = "raise RUN_TIMEOUT_SECONDS"
    if of_types:
        hint += " or the pipeline type's activeDeadlineSeconds"
    return _deadline(seconds, f"RUN_TIMEOUT_SECONDS={seconds}", hint)


def _deadline(seconds: int, where: str, hint: str) -> Deadline | None:
    if seconds <= 0:
        return None
    return Deadline(
        seconds, f"ran longer than its deadline of {duration(seconds)} ({where}); {hint}"
    )


def duration(seconds: int) -> str:
    """``21600`` -> ``6h``, ``5400`` -> ``1h30m``, ``90`` -> ``1m30s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s"))]
    return "".join(part for part in parts if not part.startswith("0")) or "0s"


def deadline_annotations(deadline: Deadline | None) -> dict[str, str]:
    """What a workload (or a schedule's template of one) carries of its deadline."""
    return deadline.annotations() if deadline is not None else {}
