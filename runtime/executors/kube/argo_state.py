"""What an Argo ``Workflow`` says about its run: its phase, a requested shutdown, a suspension,
and the runner's own failure note, mapped onto the run states (``k8s_runs.ObjectState``).

Phases: ``""``/Pending -> queued, Running -> running (queued while ``spec.suspend``: Argo marks
a suspended Workflow Running but makes no pod), Succeeded -> success, Failed/Error -> failed,
or stopped when a shutdown was requested.
"""

from __future__ import annotations

from typing import Any

from runtime.executors.kube.client import get_path, parse_time_ms
from runtime.executors.kube.runs import KILLED, ObjectState, annotated_failure
from runtime.wire.messages import FAILED, QUEUED, RUNNING, STOPPED, SUCCESS

TERMINATE = "Terminate"


def workflow_state(obj: dict[str, Any]) -> ObjectState:
    """What a Workflow says about its run (phase, shutdown, the runner's failure note)."""
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "")
    start = parse_time_ms(status.get("startedAt"))
    end = parse_time_ms(status.get("finishedAt"))
    failure = annotated_failure(obj)
    shutdown = get_path(obj, "spec", "shutdown")
    if phase == "Succeeded":
        return ObjectState(state=SUCCESS, start_date=start, end_date=end)
    if failure is not None:
        return ObjectState(
            state=FAILED, reason=failure[0], message=failure[1], start_date=start, end_date=end
        )
    if phase in ("Failed", "Error"):
        if shutdown:
            return ObjectState(
                state=STOPPED,
                reason=KILLED,
                message=status.get("message") or f"stopped with strategy {shutdown}",
                start_date=start,
                end_date=end,
            )
        reason, message = _failure(status, phase)
        return ObjectState(
            state=FAILED, reason=reason, message=message, start_date=start, end_date=end
        )
    if get_path(obj, "spec", "suspend"):
        # Argo marks a suspended Workflow Running, but no pod of it exists yet; its deadline
        # counts from startedAt all the same (KubeExecutor adds the wait when it resumes it).
        return ObjectState(state=QUEUED, suspended=True, deadline_from=start)
    if phase == "Running":
        return ObjectState(state=RUNNING, start_date=start)
    return ObjectState(state=QUEUED, start_date=start)


def _failure(status: dict[str, Any], phase: str) -> tuple[str, str]:
    message = str(status.get("message") or "")
    node_messages = [
        str(node.get("message"))
        for node in (status.get("nodes") or {}).values()
        if isinstance(node, dict) and node.get("type") == "Pod" and node.get("message")
    ]
    text = " ".join([message, *node_messages])
    if "deadline" in text.lower():
        reason = "DeadlineExceeded"
    elif "OOMKilled" in text:
        reason = "OOMKilled"
    else:
        reason = phase
    detail = node_messages[0] if node_messages else message
    if message and node_messages and node_messages[0] not in message:
        detail = f"{message}: {node_messages[0]}"
    return reason, detail or f"workflow {phase.lower()}"
