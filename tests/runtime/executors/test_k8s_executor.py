"""Both Kubernetes executors against autospec'd API classes: launch (409 adopt, 404, 403,
5xx), kill, the watch-fed run table, diagnostics, log capture, re-adoption."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from runtime import kube_rest
from runtime.errors import Conflict, ExecutorUnavailable, Forbidden, LaunchFailed, NotFound
from runtime.executors.argo import ArgoExecutor
from runtime.executors.base import LaunchSpec
from runtime.executors.k8s_diagnostics import Grace
from runtime.executors.k8s_executor import KubeExecutor
from runtime.executors.simple_k8s import SimpleK8sExecutor
from runtime.executors.table import RunRecord
from tests.runtime.executors.k8s_support import (
    FakeClock,
    ListWatch,
    api_error,
    autospec,
    make_settings,
    make_spec,
    no_sleep_caller,
    wait_until,
)

TAINT = "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: ingestion}."


@attrs.define
class Harness:
    kind: str
    executor: KubeExecutor
    api: Any
    core: Any
    wall: FakeClock
    mono: FakeClock
    updates: list[tuple[str, str | None]] = attrs.field(factory=list)

    # The workload API's methods, whatever the executor.
    @property
    def create(self) -> Any:
        if self.kind == "argo":
            return self.api.create_namespaced_custom_object
        return self.api.create_namespaced_job

    @property
    def read(self) -> Any:
        if self.kind == "argo":
            return self.api.get_namespaced_custom_object
        return self.api.read_namespaced_job

    @property
    def list(self) -> Any:
        if self.kind == "argo":
            return self.api.list_namespaced_custom_object
        return self.api.list_namespaced_job

    @property
    def kill_fn(self) -> Any:
        if self.kind == "argo":
            return self.api.patch_namespaced_custom_object
        return self.api.delete_namespaced_job

    def workload(self, spec: LaunchSpec, state: str = "queued", **extra: Any) -> dict[str, Any]:
        """The object as the API server would return it, in ``state``."""
        obj = copy.deepcopy(self.executor.render(spec)[0])
        obj["metadata"]["resourceVersion"] = "7"
        obj["metadata"]["uid"] = "uid-" + spec.run_id
        status: dict[str, Any] = {}
        if self.kind == "argo":
            phase = {
                "queued": "Pending",
                "running": "Running",
                "success": "Succeeded",
                "failed": "Failed",
            }[state]
            status = {"phase": phase, "startedAt": "2024-05-01T10:00:00Z"}
            if state in ("success", "failed"):
                status["finishedAt"] = "2024-05-01T10:05:00Z"
            if extra.get("shutdown"):
                obj["spec"]["shutdown"] = extra["shutdown"]
        else:
            status = {"startTime": "2024-05-01T10:00:00Z"}
            if state == "running":
                status["active"] = 1
            elif state == "success":
                status["conditions"] = [{"type": "Complete", "status": "True"}]
                status["completionTime"] = "2024-05-01T10:05:00Z"
            elif state == "failed":
                status["conditions"] = [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": "2024-05-01T10:05:00Z",
                    }
                ]
        obj["status"] = status
        return obj

    def pod(
        self, spec: LaunchSpec, status: dict[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        return {
            "metadata": {
                "name": name or spec.run_name + "-pod",
                "namespace": "ingestion",
                "resourceVersion": "9",
                "annotations": {"hybrid-runner.io/run-id": spec.run_id},
            },
            "spec": {
                "containers": [
                    {"name": "main", "image": "img", "resources": {"limits": {"memory": "4096Mi"}}}
                ]
            },
            "status": status,
        }

    def launched(self, spec: LaunchSpec, state: str = "queued") -> None:
        self.create.return_value = self.workload(spec, state)
        self.executor.launch(spec)
        if state == "running":
            # A run is running once its pod is: the pod the watch would deliver.
            self.executor._pod_event(
                "ADDED", self.pod(spec, {"phase": "Running", "startTime": "2024-05-01T10:01:00Z"})
            )

    def record(self, run_id: str = "run-0001") -> RunRecord:
        record = self.executor.table.get(run_id)
        assert record is not None
        return record


def build(kind: str, **options: Any) -> Harness:
    wall = FakeClock(1_714_557_600.0)
    mono = FakeClock(1000.0)
    core = autospec(kube_rest.CoreV1)
    common: dict[str, Any] = {
        "core_api": core,
        "caller": no_sleep_caller(),
        "clock": wall,
        "monotonic": mono,
        "watch_backoff": 0.01,
        "watch_max_backoff": 0.02,
        "housekeeping_seconds": 3600.0,
        "grace": Grace(image_pull_report=10, image_pull=120),
        "log_tail_bytes": 1000,
    }
    common.update(options)
    settings = make_settings()
    executor: KubeExecutor
    if kind == "argo":
        api = autospec(kube_rest.CustomObjects)
        executor = ArgoExecutor(settings, custom_api=api, **common)
    else:
        api = autospec(kube_rest.BatchV1)
        executor = SimpleK8sExecutor(settings, batch_api=api, **common)
    harness = Harness(kind=kind, executor=executor, api=api, core=core, wall=wall, mono=mono)
    executor.table.subscribe(lambda new, old: harness.updates.append((new.state, new.reason)))
    # As after start(): the pods are listed (none yet), so a run without a pod has none yet.
    executor._sync_pods([])
    return harness


@pytest.fixture(params=["argo", "simpleK8s"])
def h(request: pytest.FixtureRequest) -> Any:
    harness = build(request.param)
    yield harness
    asyncio.run(harness.executor.stop())


# -- launch ---------------------------------------------------------------------------------------


def test_launch_creates_the_rendered_manifest_and_records_queued(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    h.create.assert_called_once()
    kwargs = h.create.call_args.kwargs
    assert kwargs["body"] == h.executor.render(spec)[0]
    assert kwargs["namespace"] == "ingestion"
    assert kwargs["_request_timeout"] > 0
    record = h.record()
    assert record.state == "queued"
    assert record.run_name == spec.run_name
    assert record.pipeline_fqn == spec.pipeline_fqn
    assert record.extra["name"] == spec.run_name


def test_launch_409_adopts_the_existing_object(h: Harness) -> None:
    spec = make_spec()
    h.create.side_effect = api_error(409, "already exists")
    h.read.return_value = h.workload(spec, "running")
    # Its pod, already watched (a pod seen before its workload waits for it).
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    h.executor.launch(spec)
    assert h.create.call_count == 1
    h.read.assert_called_once()
    assert h.read.call_args.kwargs["name"] == spec.run_name
    assert h.record().state == "running"
    # A second delivery of the same request: same name, adopted again, still one run.
    h.executor.launch(spec)
    names = {c.kwargs["body"]["metadata"]["name"] for c in h.create.call_args_list}
    assert names == {spec.run_name}
    assert len(h.executor.table) == 1


def test_launch_409_for_another_runs_object_is_a_conflict(h: Harness) -> None:
    spec = make_spec()
    other = h.workload(make_spec("someone-else"))
    h.create.side_effect = api_error(409)
    h.read.return_value = other
    with pytest.raises(Conflict, match="belongs to run 'someone-else'"):
        h.executor.launch(spec)
    record = h.record(spec.run_id)
    assert (record.state, record.reason) == ("failed", "Conflict")
    assert "belongs to run 'someone-else'" in (record.message or "")


def test_launch_404_is_launch_failed(h: Harness) -> None:
    h.create.side_effect = api_error(404, 'namespaces "ingestion" not found')
    with pytest.raises(LaunchFailed, match="not found"):
        h.executor.launch(make_spec())
    record = h.record()
    assert (record.state, record.reason) == ("failed", "LaunchFailed")
    assert 'namespaces "ingestion" not found' in (record.message or "")


def test_launch_403_names_the_missing_permission(h: Harness) -> None:
    h.create.side_effect = api_error(403, "forbidden")
    with pytest.raises(Forbidden) as info:
        h.executor.launch(make_spec())
    resource = "workflows.argoproj.io" if h.kind == "argo" else "jobs.batch"
    assert f"the runner's Role lacks create on {resource} in namespace ingestion" in str(info.value)
    # The run is failed (the server hears it as a run_update), with the same explanation.
    record = h.record()
    assert (record.state, record.reason, record.message) == ("failed", "Forbidden", str(info.value))
    assert h.updates == [("failed", "Forbidden")]
    assert record.end_date is not None


def test_a_refused_run_is_forgotten_like_a_deleted_one(h: Harness) -> None:
    h.create.side_effect = api_error(403, "forbidden")
    with pytest.raises(Forbidden):
        h.executor.launch(make_spec())
    h.executor.housekeeping()
    assert len(h.executor.table) == 1
    h.mono.advance(h.executor._retain_deleted + 1)
    h.executor.housekeeping()
    assert len(h.executor.table) == 0


def test_launch_retries_503_then_succeeds(h: Harness) -> None:
    spec = make_spec()
    h.create.side_effect = [api_error(503), api_error(500), h.workload(spec)]
    h.executor.launch(spec)
    assert h.create.call_count == 3
    assert h.record().state == "queued"


def test_launch_gives_up_with_executor_unavailable(h: Harness) -> None:
    h.create.side_effect = api_error(503)
    with pytest.raises(ExecutorUnavailable) as info:
        h.executor.launch(make_spec())
    assert info.value.retryable
    assert h.create.call_count == 4
    assert len(h.executor.table) == 0


def test_render_needs_no_cluster() -> None:
    executor = ArgoExecutor.from_settings(make_settings())
    assert executor.render(make_spec())[0]["kind"] == "Workflow"
    assert not executor._clients.loaded
    assert SimpleK8sExecutor.from_settings(make_settings()).render(make_spec())[0]["kind"] == "Job"


# -- kill -----------------------------------------------------------------------------------------


def test_kill_argo_patches_shutdown_terminate_then_watch_reports_stopped() -> None:
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    call = h.api.patch_namespaced_custom_object.call_args
    assert call.kwargs["body"] == {"spec": {"shutdown": "Terminate"}}
    assert call.kwargs["name"] == spec.run_name
    assert call.kwargs["plural"] == "workflows"
    assert call.kwargs["_content_type"] == "application/merge-patch+json"
    assert h.record().state == "running", "Argo ends the workflow; the watch reports it"
    h.executor._workload_event("MODIFIED", h.workload(spec, "failed", shutdown="Terminate"))
    assert (h.record().state, h.record().reason) == ("stopped", "Killed")


def test_argo_stop_gracefully_uses_stop() -> None:
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    assert isinstance(h.executor, ArgoExecutor)
    h.executor.stop_gracefully(spec.run_id)
    assert h.api.patch_namespaced_custom_object.call_args.kwargs["body"] == {
        "spec": {"shutdown": "Stop"}
    }


def test_kill_job_deletes_foreground_and_is_stopped_at_once() -> None:
    h = build("simpleK8s")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    h.api.delete_namespaced_job.assert_called_once()
    call = h.api.delete_namespaced_job.call_args
    assert call.kwargs["name"] == spec.run_name
    assert call.kwargs["propagation_policy"] == "Foreground"
    assert call.kwargs["_request_timeout"] > 0
    record = h.record()
    assert (record.state, record.reason) == ("stopped", "Killed")
    assert record.end_date == 1714557600000
    # Late events of the dying Job do not bring the run back or change its reason.
    h.executor._workload_event("MODIFIED", h.workload(spec, "failed"))
    h.executor._workload_event("DELETED", h.workload(spec, "running"))
    assert (h.record().state, h.record().reason) == ("stopped", "Killed")


def test_kill_of_a_vanished_object_counts_as_done(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.kill_fn.side_effect = api_error(404, "not found")
    h.executor.kill(spec.run_id)
    assert h.record().state == "stopped"


def test_kill_forbidden_leaves_the_run_as_it_was(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.kill_fn.side_effect = api_error(403)
    verb = "patch" if h.kind == "argo" else "delete"
    with pytest.raises(Forbidden, match=f"lacks {verb} on"):
        h.executor.kill(spec.run_id)
    assert h.record().state == "running"
    assert spec.run_id not in h.executor._killing


def test_kill_unknown_or_finished(h: Harness) -> None:
    with pytest.raises(NotFound):
        h.executor.kill("nope")
    spec = make_spec()
    h.launched(spec, "success")
    h.executor.kill(spec.run_id)
    h.kill_fn.assert_not_called()
    assert h.record().state == "success"


# -- watch-fed state and diagnostics ------------------------------------------------------------


def test_a_running_workload_is_queued_until_its_pod_runs(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    # Argo says Running (a Job counts a pod active) before the pod is even seen.
    h.executor._workload_event("MODIFIED", h.workload(spec, "running"))
    assert h.record().state == "queued"
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Pending"}))
    assert h.record().state == "queued"
    h.executor._pod_event("MODIFIED", h.pod(spec, {"phase": "Running"}))
    assert h.record().state == "running"
    assert [u[0] for u in h.updates] == ["queued", "running"]


def test_without_a_pod_list_the_workload_state_is_trusted() -> None:
    h = build("argo")
    h.executor._pods_listed = False  # the pod watch never listed (RBAC being fixed, say)
    spec = make_spec()
    h.launched(spec)
    h.executor._workload_event("MODIFIED", h.workload(spec, "running"))
    assert h.record().state == "running"


def test_events_drive_state_and_pod_diagnostics(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    h.executor._workload_event("MODIFIED", h.workload(spec, "running"))
    h.executor._pod_event(
        "ADDED",
        h.pod(
            spec,
            {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": TAINT,
                    }
                ],
            },
        ),
    )
    record = h.record()
    assert (record.state, record.reason) == ("queued", "Unschedulable")
    assert "untolerated taint {dedicated: ingestion}" in (record.message or "")
    h.executor._pod_event(
        "MODIFIED", h.pod(spec, {"phase": "Running", "startTime": "2024-05-01T10:01:00Z"})
    )
    assert (h.record().state, h.record().reason) == ("running", None)
    h.executor._workload_event("MODIFIED", h.workload(spec, "success"))
    assert h.record().state == "success"
    assert h.record().end_date == 1714557900000
    # Running only once the pod runs: never running -> queued -> running.
    assert [u[0] for u in h.updates] == ["queued", "queued", "running", "success"]
    assert h.updates[1] == ("queued", "Unschedulable")


def test_image_pull_backoff_fails_after_grace_and_ends_the_workload(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    waiting = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "main",
                "restartCount": 0,
                "state": {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "img:nope"',
                    }
                },
            }
        ],
    }
    h.executor._pod_event("ADDED", h.pod(spec, waiting))
    assert h.record().reason is None, "within the report grace nothing is said yet"
    h.mono.advance(30)
    h.executor.housekeeping()
    assert (h.record().state, h.record().reason) == ("queued", "ImagePullBackOff")
    h.mono.advance(100)
    h.executor.housekeeping()
    record = h.record()
    assert (record.state, record.reason) == ("failed", "ImagePullBackOff")
    assert 'Back-off pulling image "img:nope"' in (record.message or "")
    assert h.executor.wait_idle()
    if h.kind == "argo":
        body = h.api.patch_namespaced_custom_object.call_args.kwargs["body"]
        assert body["spec"] == {"shutdown": "Terminate"}
    else:
        body = h.api.patch_namespaced_job.call_args.kwargs["body"]
        assert body["spec"] == {"activeDeadlineSeconds": 1}
    assert body["metadata"]["annotations"]["hybrid-runner.io/failure-reason"] == "ImagePullBackOff"
    # The ended workload's own failure does not replace the diagnosis.
    ended = h.workload(spec, "failed", shutdown="Terminate")
    ended["metadata"]["annotations"].update(body["metadata"]["annotations"])
    h.executor._workload_event("MODIFIED", ended)
    assert h.record().reason == "ImagePullBackOff"


def test_oom_killed_pod_explains_a_failed_workload(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor._pod_event(
        "MODIFIED",
        h.pod(
            spec,
            {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "main",
                        "restartCount": 0,
                        "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                    }
                ],
            },
        ),
    )
    h.executor._workload_event("MODIFIED", h.workload(spec, "failed"))
    record = h.record()
    assert (record.state, record.reason) == ("failed", "OOMKilled")
    assert "memory limit 4096Mi" in (record.message or "")


def test_pod_seen_before_its_workload_is_applied_when_the_workload_arrives(h: Harness) -> None:
    spec = make_spec()
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    assert h.executor.table.get(spec.run_id) is None
    h.executor._workload_event("ADDED", h.workload(spec, "queued"))
    assert h.record().state == "running"


def test_workload_deleted_while_running_is_a_failure(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor._workload_event("DELETED", h.workload(spec, "running"))
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Deleted")


def test_deleted_pod_while_running_is_pod_deleted_but_an_older_pod_is_ignored(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Running"}, name="new-pod"))
    h.executor._pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="old-pod"))
    assert h.record().state == "running"
    h.executor._pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="new-pod"))
    # Judged once the grace has passed (the workload's own deletion may be on its way).
    assert h.record().state == "running"
    h.mono.advance(Grace().pod_deleted)
    h.executor.housekeeping()
    assert (h.record().state, h.record().reason) == ("failed", "PodDeleted")


def test_a_pod_deleted_with_its_workload_reports_the_workload_whichever_event_comes_first(
    h: Harness,
) -> None:
    """``kubectl delete job``: the pod watch may hear of the pod before the Job watch of the Job."""
    spec = make_spec()
    h.launched(spec, "running")
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Running"}, name="the-pod"))
    h.executor._pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="the-pod"))
    h.mono.advance(1)
    h.executor.housekeeping()
    h.executor._workload_event("DELETED", h.workload(spec, "running"))
    h.mono.advance(Grace().pod_deleted)
    h.executor.housekeeping()
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Deleted")
    assert h.updates.count(("failed", "Deleted")) == 1
    assert ("failed", "PodDeleted") not in h.updates


def test_final_records_never_change_state(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "failed")
    h.executor._workload_event("MODIFIED", h.workload(spec, "running"))
    h.executor._workload_event("MODIFIED", h.workload(spec, "success"))
    assert h.record().state == "failed"


# -- logs ------------------------------------------------------------------------------------------


def test_log_tail_is_captured_when_the_pod_finishes(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.core.read_namespaced_pod_log.return_value = "x" * 5000 + "THE END"
    h.executor._pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    call = h.core.read_namespaced_pod_log.call_args
    assert call.kwargs["container"] == "main"
    assert call.kwargs["tail_lines"] == 200
    assert call.kwargs["limit_bytes"] == 1000
    assert call.kwargs["_request_timeout"] > 0
    tail = h.record().extra["log_tail"]
    assert len(tail) == 1000 and tail.endswith("THE END")
    # Only once per pod.
    h.executor._pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    assert h.core.read_namespaced_pod_log.call_count == 1


def test_logs_live_then_captured(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    h.core.read_namespaced_pod_log.return_value = "line 1\nline 2\n"
    chunk = h.executor.logs(spec.run_id)
    # A running run: the end of what is there so far, and a cursor to poll from.
    assert (chunk.content, chunk.after, chunk.total) == ("line 1\nline 2\n", 14, 14)
    assert h.core.read_namespaced_pod_log.call_args.kwargs["container"] == "main"
    h.core.read_namespaced_pod_log.return_value = "tail\n"
    h.executor._pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    h.executor._workload_event("MODIFIED", h.workload(spec, "success"))
    h.executor._pod_event("DELETED", h.pod(spec, {"phase": "Succeeded"}))
    h.core.read_namespaced_pod_log.side_effect = api_error(404)
    last = h.executor.logs(spec.run_id)
    assert (last.content, last.after, last.total) == ("tail\n", None, 5)
    with pytest.raises(NotFound):
        h.executor.logs("nope")


def test_logs_come_in_bounded_chunks_until_the_end(h: Harness) -> None:
    h.executor.log_chunk_bytes = 1000
    spec = make_spec()
    h.launched(spec, "success")
    h.executor._pod_event("ADDED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    text = "".join(f"line {i} é€\n" for i in range(400))  # multi-byte characters too
    h.core.read_namespaced_pod_log.side_effect = None
    h.core.read_namespaced_pod_log.return_value = text
    pieces: list[str] = []
    after = 0
    calls = 0
    while True:
        chunk = h.executor.logs(spec.run_id, after)
        calls += 1
        assert len(chunk.content.encode()) <= 1000
        assert chunk.total == len(text.encode())
        pieces.append(chunk.content)
        if chunk.after is None:
            break
        assert chunk.after > after
        after = chunk.after
    assert "".join(pieces) == text  # no character split, nothing lost or repeated
    assert calls == -(-len(text.encode()) // 1000) or calls == -(-len(text.encode()) // 1000) + 1


# -- re-adoption, readiness, housekeeping --------------------------------------------------


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_start_readopts_from_lists_and_stop_is_prompt(kind: str) -> None:
    h = build(kind)
    running, done, killed = make_spec("r-run"), make_spec("r-done"), make_spec("r-killed")
    killed_obj = h.workload(killed, "failed", shutdown="Terminate")
    if kind == "simpleK8s":
        killed_obj = h.workload(killed, "failed")
    workloads = ListWatch(
        [[h.workload(running, "running"), h.workload(done, "success"), killed_obj]], hold=30.0
    )
    pods = ListWatch(
        [
            [
                h.pod(
                    running,
                    {
                        "phase": "Pending",
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": TAINT,
                            }
                        ],
                    },
                )
            ]
        ],
        hold=30.0,
    )
    h.list.side_effect = workloads
    h.core.list_namespaced_pod.side_effect = pods
    assert not h.executor.ready
    asyncio.run(h.executor.start())
    assert h.executor.ready
    assert h.executor.health()["kubernetes"] == "ok"
    states = {r.run_id: (r.state, r.reason) for r in h.executor.table.all()}
    assert states["r-run"] == ("queued", "Unschedulable")
    assert states["r-done"] == ("success", None)
    assert states["r-killed"][0] == ("stopped" if kind == "argo" else "failed")
    assert len(h.updates) == 3, "listeners hear about every re-adopted run"
    selector = workloads.list_calls[0]["label_selector"]
    assert selector == (
        "app.kubernetes.io/managed-by=hybrid-ingestion-runner,hybrid-runner.io/agent-id=agent-1"
    )
    assert pods.list_calls[0]["label_selector"] == selector
    wait_until(lambda: len(workloads.watch_calls) == 1 and len(pods.watch_calls) == 1)
    started = time.monotonic()
    asyncio.run(h.executor.stop())
    assert time.monotonic() - started < 2.0
    assert not any(w.running for w in h.executor._watchers)


def test_not_ready_until_a_list_succeeds() -> None:
    h = build("argo", watch_backoff=0.3, watch_max_backoff=0.3)
    spec = make_spec()
    workloads = ListWatch([api_error(503)] * 8 + [[h.workload(spec, "running")]], hold=30.0)
    h.list.side_effect = workloads
    running_pod = h.pod(spec, {"phase": "Running"})
    h.core.list_namespaced_pod.side_effect = ListWatch([[running_pod]], hold=30.0)
    try:
        asyncio.run(h.executor.start())
        assert not h.executor.ready
        assert h.executor.health()["kubernetes"].startswith("unavailable")
        wait_until(lambda: h.executor.ready)
        assert h.record(spec.run_id).state == "running"
        assert h.executor.health() == {"kubernetes": "ok", "argo": "ok"}
    finally:
        asyncio.run(h.executor.stop())


def test_argo_health_names_a_missing_crd() -> None:
    h = build("argo")
    h.list.side_effect = ListWatch(
        [api_error(404, "the server could not find the requested resource")]
    )
    h.core.list_namespaced_pod.side_effect = ListWatch([[]], hold=30.0)
    try:
        asyncio.run(h.executor.start())
        assert h.executor.health()["argo"] == "CRD workflows.argoproj.io not installed"
    finally:
        asyncio.run(h.executor.stop())


def test_resync_notices_objects_deleted_while_unwatched(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.mono.advance(5)
    h.executor._sync_workloads([])
    assert h.record().state == "running", "just launched: a list may predate it"
    h.mono.advance(60)
    h.executor._sync_workloads([])
    assert (h.record().state, h.record().reason) == ("failed", "Deleted")


def test_a_resync_whose_list_fails_mid_way_reports_nothing_deleted(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.mono.advance(60)

    def pages() -> Iterator[dict[str, Any]]:
        yield h.workload(make_spec("someone-else"), "running")
        raise ExecutorUnavailable("the API server went away between two pages")

    with pytest.raises(ExecutorUnavailable):
        h.executor._sync_workloads(pages())
    assert h.record(spec.run_id).state == "running"


@pytest.mark.parametrize("what", ["workloads", "pods"])
def test_pages_are_read_without_holding_the_executors_lock(h: Harness, what: str) -> None:
    """A relist of 10,000 runs reads 20 pages: launches and kills must not wait for them."""
    spec = make_spec()
    h.launched(spec, "queued")
    others: list[bool] = []

    def try_lock() -> None:
        got = h.executor._lock.acquire(timeout=2)
        others.append(got)
        if got:
            h.executor._lock.release()

    def pages() -> Iterator[dict[str, Any]]:
        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join()
        if what == "workloads":
            yield h.workload(spec, "success")
        else:
            yield h.pod(spec, {"phase": "Running"})

    sync = h.executor._sync_workloads if what == "workloads" else h.executor._sync_pods
    sync(pages())
    assert others == [True]
    assert h.record(spec.run_id).state == ("success" if what == "workloads" else "running")


def test_finished_runs_are_forgotten_some_time_after_their_object_is_gone(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "success")
    h.executor._workload_event("DELETED", h.workload(spec, "success"))
    h.executor.housekeeping()
    assert h.executor.table.get(spec.run_id) is not None
    h.mono.advance(3601)
    h.executor.housekeeping()
    assert h.executor.table.get(spec.run_id) is None


def test_launch_409_then_gone_creates_once_more(h: Harness) -> None:
    spec = make_spec()
    h.create.side_effect = [api_error(409), h.workload(spec)]
    h.read.side_effect = api_error(404)
    h.executor.launch(spec)
    assert h.create.call_count == 2
    assert h.record().state == "queued"


def test_from_settings_warns_about_the_other_executors_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(SIMPLEK8S_PIPELINE_TYPE_CONFIGS='{"metadata": {"nodeSelector": {}}}')
    with caplog.at_level("WARNING"):
        ArgoExecutor.from_settings(settings)
    assert "SIMPLEK8S_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=argo" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        SimpleK8sExecutor.from_settings(settings)
    assert caplog.text == ""


def test_a_pod_ending_from_our_kill_reports_stopped_not_failed() -> None:
    # Found by the e2e suite: the pod's exit 143 reached the runner before the Workflow's phase.
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    h.executor._pod_event(
        "MODIFIED",
        h.pod(
            spec,
            {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "main",
                        "state": {"terminated": {"exitCode": 143, "reason": "Error"}},
                    }
                ],
            },
        ),
    )
    assert (h.record().state, h.record().reason) == ("stopped", "Killed")
