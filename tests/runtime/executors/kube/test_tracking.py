"""Both Kubernetes executors' run tracking (runtime/executors/kube/tracking.py): the watch-fed
run table, pod diagnostics, re-adoption from lists, readiness and housekeeping. The executor
talks to the HTTP fake of the API server (tests/runtime/kube_api_server.py): what it lists and
watches is what the fake holds and streams, and the tests read the requests it was sent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.executors.kube.diagnostics import Grace
from runtime.kubeapi.resource import PODS
from runtime.wire.errors import ExecutorUnavailable
from tests.runtime.executors.k8s_harness import TAINT, Harness, build
from tests.runtime.executors.k8s_support import NAMESPACE, make_spec, wait_until

#: Seconds the fake holds a watch stream open after its events (an API server with nothing
#: to say): under the watchers' stall timeout, past any test.
HOLD = 30.0

# -- watch-fed state and diagnostics ------------------------------------------------------------


def test_a_running_workload_is_queued_until_its_pod_runs(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    # Argo says Running (a Job counts a pod active) before the pod is even seen.
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "running"))
    assert h.record().state == "queued"
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Pending"}))
    assert h.record().state == "queued"
    h.executor.tracker.pod_event("MODIFIED", h.pod(spec, {"phase": "Running"}))
    assert h.record().state == "running"
    assert [u[0] for u in h.updates] == ["queued", "running"]


def test_without_a_pod_list_the_workload_state_is_trusted() -> None:
    h = build("argo")
    h.executor.tracker.pods_listed = False  # the pod watch never listed (RBAC being fixed, say)
    spec = make_spec()
    h.launched(spec)
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "running"))
    assert h.record().state == "running"


def test_events_drive_state_and_pod_diagnostics(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "running"))
    h.executor.tracker.pod_event(
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
    h.executor.tracker.pod_event(
        "MODIFIED", h.pod(spec, {"phase": "Running", "startTime": "2024-05-01T10:01:00Z"})
    )
    assert (h.record().state, h.record().reason) == ("running", None)
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "success"))
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
    h.executor.tracker.pod_event("ADDED", h.pod(spec, waiting))
    assert h.record().reason is None, "within the report grace nothing is said yet"
    h.mono.advance(30)
    h.executor.tracker.housekeeping()
    assert (h.record().state, h.record().reason) == ("queued", "ImagePullBackOff")
    h.mono.advance(100)
    h.executor.tracker.housekeeping()
    record = h.record()
    assert (record.state, record.reason) == ("failed", "ImagePullBackOff")
    assert 'Back-off pulling image "img:nope"' in (record.message or "")
    assert h.executor.wait_idle()
    body = h.patches(spec.run_name)[-1].body
    if h.kind == "argo":
        assert body["spec"] == {"shutdown": "Terminate"}
    else:
        assert body["spec"] == {"activeDeadlineSeconds": 1}
    assert body["metadata"]["annotations"]["hybrid-runner.io/failure-reason"] == "ImagePullBackOff"
    # The ended workload's own failure does not replace the diagnosis.
    ended = h.workload(spec, "failed", shutdown="Terminate")
    ended["metadata"]["annotations"].update(body["metadata"]["annotations"])
    h.executor.tracker.workload_event("MODIFIED", ended)
    assert h.record().reason == "ImagePullBackOff"


def test_oom_killed_pod_explains_a_failed_workload(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.tracker.pod_event(
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
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "failed"))
    record = h.record()
    assert (record.state, record.reason) == ("failed", "OOMKilled")
    assert "memory limit 4096Mi" in (record.message or "")
    assert "config.ingestionPods.resources.limits.memory" in (record.message or "")


def test_a_readopted_argo_oom_failure_says_how_to_raise_the_limit() -> None:
    """Re-adoption lists the pods first: the Workflow, failed "OOMKilled" in Argo's words,
    then gets the pod's diagnosis, which names the limit and the values key."""
    h = build("argo")
    spec = make_spec()
    oom = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    status = {"phase": "Failed", "containerStatuses": [{"name": "main", "state": oom}]}
    h.executor.tracker.sync_pods([h.pod(spec, status)])
    failed = h.workload(spec, "failed")
    failed["status"]["message"] = "OOMKilled (exit code 137)"
    h.executor.tracker.sync_workloads([failed])
    record = h.record()
    assert (record.state, record.reason) == ("failed", "OOMKilled")
    assert "raise config.ingestionPods.resources.limits.memory" in (record.message or "")
    asyncio.run(h.executor.stop())


def test_pod_seen_before_its_workload_is_applied_when_the_workload_arrives(h: Harness) -> None:
    spec = make_spec()
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    assert h.executor.table.get(spec.run_id) is None
    h.executor.tracker.workload_event("ADDED", h.workload(spec, "queued"))
    assert h.record().state == "running"


def test_workload_deleted_while_running_is_a_failure(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.tracker.workload_event("DELETED", h.workload(spec, "running"))
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Deleted")


def test_deleted_pod_while_running_is_pod_deleted_but_an_older_pod_is_ignored(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Running"}, name="new-pod"))
    h.executor.tracker.pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="old-pod"))
    assert h.record().state == "running"
    h.executor.tracker.pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="new-pod"))
    # Judged once the grace has passed (the workload's own deletion may be on its way).
    assert h.record().state == "running"
    h.mono.advance(Grace().pod_deleted)
    h.executor.tracker.housekeeping()
    assert (h.record().state, h.record().reason) == ("failed", "PodDeleted")


def test_a_pod_deleted_with_its_workload_reports_the_workload_whichever_event_comes_first(
    h: Harness,
) -> None:
    """``kubectl delete job``: the pod watch may hear of the pod before the Job watch of the Job."""
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Running"}, name="the-pod"))
    h.executor.tracker.pod_event("DELETED", h.pod(spec, {"phase": "Running"}, name="the-pod"))
    h.mono.advance(1)
    h.executor.tracker.housekeeping()
    h.executor.tracker.workload_event("DELETED", h.workload(spec, "running"))
    h.mono.advance(Grace().pod_deleted)
    h.executor.tracker.housekeeping()
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Deleted")
    assert h.updates.count(("failed", "Deleted")) == 1
    assert ("failed", "PodDeleted") not in h.updates


def test_final_records_never_change_state(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "failed")
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "running"))
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "success"))
    assert h.record().state == "failed"


# -- re-adoption, readiness, housekeeping --------------------------------------------------


def put_pod(h: Harness, pod: dict[str, Any]) -> None:
    """``pod`` exists in the cluster (in the agent's namespace)."""
    h.server.put(PODS.path(NAMESPACE, pod["metadata"]["name"]), pod)


@pytest.mark.parametrize("kind", ["argo", "simpleK8s"])
def test_start_readopts_from_lists_and_stop_is_prompt(kind: str) -> None:
    h = build(kind)
    running, done, killed = make_spec("r-run"), make_spec("r-done"), make_spec("r-killed")
    killed_obj = h.workload(killed, "failed", shutdown="Terminate")
    if kind == "simpleK8s":
        killed_obj = h.workload(killed, "failed")
    for obj in (h.workload(running, "running"), h.workload(done, "success"), killed_obj):
        h.put(obj)
    unschedulable = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": TAINT,
    }
    put_pod(h, h.pod(running, {"phase": "Pending", "conditions": [unschedulable]}))
    h.server.state.watch_hold = HOLD
    executor: Any = h.executor  # mypy would keep `ready` narrowed to False across start()
    assert not executor.ready
    asyncio.run(executor.start())
    assert executor.ready
    assert h.executor.health()["kubernetes"] == "ok"
    states = {r.run_id: (r.state, r.reason) for r in h.executor.table.all()}
    assert states["r-run"] == ("queued", "Unschedulable")
    assert states["r-done"] == ("success", None)
    assert states["r-killed"][0] == ("stopped" if kind == "argo" else "failed")
    assert len(h.updates) == 3, "listeners hear about every re-adopted run"
    pods = PODS.path(NAMESPACE)
    selector = h.server.list_requests(h.path())[0].query["labelSelector"]
    assert selector == (
        "app.kubernetes.io/managed-by=hybrid-ingestion-runner,hybrid-runner.io/agent-id=agent-1"
    )
    assert h.server.list_requests(pods)[0].query["labelSelector"] == selector
    wait_until(
        lambda: (
            len(h.server.watch_requests(h.path())) == 1 and len(h.server.watch_requests(pods)) == 1
        )
    )
    started = time.monotonic()
    asyncio.run(h.executor.stop())
    assert time.monotonic() - started < 2.0
    assert not any(w.running for w in h.executor._watchers)


def test_not_ready_until_a_list_succeeds() -> None:
    h = build("argo", watch_backoff=0.3, watch_max_backoff=0.3)
    spec = make_spec()
    h.put(h.workload(spec, "running"))
    put_pod(h, h.pod(spec, {"phase": "Running"}))
    h.server.state.watch_hold = HOLD
    # Two lists of the workloads fail (each one 503 per attempt), then the API server is back.
    attempts = h.executor.kube.attempts
    h.fail("GET", 503, "boom", times=2 * attempts)
    try:
        asyncio.run(h.executor.start())
        assert not h.executor.ready
        assert h.executor.health()["kubernetes"].startswith("unavailable")
        wait_until(lambda: h.executor.ready)
        assert len(h.server.list_requests(h.path())) == 2 * attempts + 1
        assert h.record(spec.run_id).state == "running"
        assert h.executor.health() == {"kubernetes": "ok", "argo": "ok"}
    finally:
        asyncio.run(h.executor.stop())


def test_argo_health_names_a_missing_crd() -> None:
    h = build("argo")
    # Every list of Workflows: 404, as from an API server that does not know the kind.
    message = "the server could not find the requested resource"
    h.server.state.errors[f"GET {h.path()}"] = (404, message)
    h.server.state.watch_hold = HOLD
    try:
        asyncio.run(h.executor.start())
        # Said as soon as start() returns: its own failed list is on the watcher health reads.
        assert h.executor.health()["argo"] == "CRD workflows.argoproj.io not installed"
        assert h.server.list_requests(h.path()), "the Workflows were listed"
    finally:
        asyncio.run(h.executor.stop())


def test_resync_notices_objects_deleted_while_unwatched(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.mono.advance(5)
    h.executor.tracker.sync_workloads([])
    assert h.record().state == "running", "just launched: a list may predate it"
    h.mono.advance(60)
    h.executor.tracker.sync_workloads([])
    assert (h.record().state, h.record().reason) == ("failed", "Deleted")


def test_a_resync_whose_list_fails_mid_way_reports_nothing_deleted(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.mono.advance(60)

    def pages() -> Iterator[dict[str, Any]]:
        yield h.workload(make_spec("someone-else"), "running")
        raise ExecutorUnavailable("the API server went away between two pages")

    with pytest.raises(ExecutorUnavailable):
        h.executor.tracker.sync_workloads(pages())
    assert h.record(spec.run_id).state == "running"


@pytest.mark.parametrize("what", ["workloads", "pods"])
def test_pages_are_read_without_holding_the_executors_lock(h: Harness, what: str) -> None:
    """A relist of 10,000 runs reads 20 pages: launches and kills must not wait for them."""
    spec = make_spec()
    h.launched(spec, "queued")
    others: list[bool] = []

    def try_lock() -> None:
        got = h.executor.tracker.lock.acquire(timeout=2)
        others.append(got)
        if got:
            h.executor.tracker.lock.release()

    def pages() -> Iterator[dict[str, Any]]:
        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join()
        if what == "workloads":
            yield h.workload(spec, "success")
        else:
            yield h.pod(spec, {"phase": "Running"})

    sync = (
        h.executor.tracker.sync_workloads if what == "workloads" else h.executor.tracker.sync_pods
    )
    sync(pages())
    assert others == [True]
    assert h.record(spec.run_id).state == ("success" if what == "workloads" else "running")


def test_finished_runs_are_forgotten_some_time_after_their_object_is_gone(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "success")
    h.executor.tracker.workload_event("DELETED", h.workload(spec, "success"))
    h.executor.tracker.housekeeping()
    assert h.executor.table.get(spec.run_id) is not None
    h.mono.advance(3601)
    h.executor.tracker.housekeeping()
    assert h.executor.table.get(spec.run_id) is None
