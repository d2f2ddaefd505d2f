"""Both Kubernetes executors against the HTTP fake of the API server (kube_api_server.py):
launch (409 adopt, 404, 403, 5xx), kill and logs, asserted on the requests the fake recorded
and the objects it holds. The watch-fed run table, diagnostics and re-adoption are in
test_k8s_tracking.py; the harness in k8s_harness.py."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.executors.kube import argo
from runtime.executors.kube import client as kube_client
from runtime.executors.kube import jobs as simple_k8s
from runtime.executors.kube.argo import STOP, ArgoWorkflows
from runtime.kubeapi.loading import NoConfiguration
from runtime.kubeapi.resource import PODS, WORKFLOWS
from runtime.wire.errors import Conflict, ExecutorUnavailable, Forbidden, LaunchFailed, NotFound
from tests.runtime.executors.k8s_harness import Harness, build
from tests.runtime.executors.k8s_support import NAMESPACE, make_settings, make_spec
from tests.runtime.kube_api_server import Seen


def timeout_of(h: Harness, seen: Seen) -> Any:
    """The ``_request_timeout`` the client gave the request ``seen`` (requests in order)."""
    assert len(h.server.state.timeouts) == len(h.server.state.seen)
    return h.server.state.timeouts[h.server.state.seen.index(seen)]


def kill_method(h: Harness) -> str:
    """How the executor stops a workload: a shutdown patch (Argo), a delete (Job)."""
    return "PATCH" if h.kind == "argo" else "DELETE"


# -- launch ---------------------------------------------------------------------------------------


def test_launch_creates_the_rendered_manifest_and_records_queued(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec)
    (create,) = h.creates()
    body = create.body
    # Its place in the queue: the time it arrived, in epoch microseconds.
    queued_at = body["metadata"]["annotations"].pop("hybrid-runner.io/queued-at")
    assert int(queued_at) == int(h.wall() * 1_000_000)
    assert body == h.executor.render(spec)[0]
    assert create.path == h.resource.path("ingestion")
    assert timeout_of(h, create) > 0
    record = h.record()
    assert record.state == "queued"
    assert record.run_name == spec.run_name
    assert record.pipeline_fqn == spec.pipeline_fqn
    # The run is tracked by its workload's name, the run name.
    assert h.executor.tracker.tracked(spec.run_id).meta.run_name == spec.run_name  # type: ignore[union-attr]


def test_launch_409_adopts_the_existing_object(h: Harness) -> None:
    spec = make_spec()
    h.put(h.workload(spec, "running"))  # so the create is answered 409 (already exists)
    # Its pod, already watched (a pod seen before its workload waits for it).
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    h.executor.launch(spec)
    assert len(h.creates()) == 1
    (read,) = h.reads()
    assert read.path == h.path(spec.run_name)
    assert h.record().state == "running"
    # A second delivery of the same request: same name, adopted again, still one run.
    h.executor.launch(spec)
    names = {body["metadata"]["name"] for body in h.created()}
    assert names == {spec.run_name}
    assert len(h.executor.table) == 1


def test_launch_409_for_another_runs_object_is_a_conflict(h: Harness) -> None:
    spec = make_spec()
    other = h.workload(make_spec("someone-else"))
    # Someone else's run's object under this run's name: the create is answered 409.
    other["metadata"]["name"] = spec.run_name
    h.put(other)
    with pytest.raises(Conflict, match="belongs to run 'someone-else'"):
        h.executor.launch(spec)
    record = h.record(spec.run_id)
    assert (record.state, record.reason) == ("failed", "Conflict")
    assert "belongs to run 'someone-else'" in (record.message or "")


def test_launch_404_is_launch_failed(h: Harness) -> None:
    h.fail("POST", 404, 'namespaces "ingestion" not found')
    with pytest.raises(LaunchFailed, match="not found"):
        h.executor.launch(make_spec())
    record = h.record()
    assert (record.state, record.reason) == ("failed", "LaunchFailed")
    assert 'namespaces "ingestion" not found' in (record.message or "")


def test_launch_403_names_the_missing_permission(h: Harness) -> None:
    h.fail("POST", 403, "forbidden")
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
    h.fail("POST", 403, "forbidden")
    with pytest.raises(Forbidden):
        h.executor.launch(make_spec())
    h.executor.tracker.housekeeping()
    assert len(h.executor.table) == 1
    h.mono.advance(h.executor.tracker.retain_deleted + 1)
    h.executor.tracker.housekeeping()
    assert len(h.executor.table) == 0


def test_launch_retries_503_then_succeeds(h: Harness) -> None:
    spec = make_spec()
    h.fail("POST", 503)
    h.fail("POST", 500)
    h.answer(h.workload(spec))
    h.executor.launch(spec)
    assert len(h.creates()) == 3
    assert h.record().state == "queued"


def test_launch_gives_up_with_executor_unavailable(h: Harness) -> None:
    h.server.state.errors[f"POST {h.path()}"] = (503, "boom")  # every create
    with pytest.raises(ExecutorUnavailable) as info:
        h.executor.launch(make_spec())
    assert info.value.retryable
    assert len(h.creates()) == 4
    assert len(h.executor.table) == 0


def test_render_needs_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every load of an ApiClient reads a configuration (in-cluster or kubeconfig): count them.
    loads: list[str | None] = []

    def no_configuration(kubeconfig: str | None = None) -> Any:
        loads.append(kubeconfig)
        raise NoConfiguration("no cluster here")

    monkeypatch.setattr(kube_client, "load_configuration", no_configuration)
    executor = argo.from_settings(make_settings())  # no kube_api: its own, loaded lazily
    assert executor.render(make_spec())[0]["kind"] == "Workflow"
    assert simple_k8s.from_settings(make_settings()).render(make_spec())[0]["kind"] == "Job"
    assert loads == [], "no client loaded to render"
    # The first request is what loads it (so the count above would have seen a load).
    with pytest.raises(ExecutorUnavailable, match="cannot reach Kubernetes"):
        executor.kube.send("GET", WORKFLOWS.path(NAMESPACE))
    assert len(loads) == 1


# -- kill -----------------------------------------------------------------------------------------


def test_kill_argo_patches_shutdown_terminate_then_watch_reports_stopped() -> None:
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    call = h.patches()[-1]
    # `suspend: null` too: a Workflow still suspended would never end otherwise.
    assert call.body == {"spec": {"shutdown": "Terminate", "suspend": None}}
    assert call.path == WORKFLOWS.path("ingestion", spec.run_name)
    assert call.path.endswith("/workflows/" + spec.run_name)
    assert call.headers["content-type"] == "application/merge-patch+json"
    assert h.record().state == "running", "Argo ends the workflow; the watch reports it"
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "failed", shutdown="Terminate"))
    assert (h.record().state, h.record().reason) == ("stopped", "Killed")


def test_argo_kill_with_the_stop_shutdown_uses_stop() -> None:
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    assert isinstance(h.executor.workload, ArgoWorkflows)
    h.executor.workload.shutdown = STOP
    h.executor.kill(spec.run_id)
    assert h.patches()[-1].body == {"spec": {"shutdown": "Stop", "suspend": None}}


def test_kill_job_deletes_foreground_and_is_stopped_at_once() -> None:
    h = build("simpleK8s")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    (call,) = h.deletes()
    assert call.path == h.path(spec.run_name)
    assert call.query["propagationPolicy"] == "Foreground"
    assert timeout_of(h, call) > 0
    record = h.record()
    assert (record.state, record.reason) == ("stopped", "Killed")
    assert record.end_date == 1714557600000
    # Late events of the dying Job do not bring the run back or change its reason.
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "failed"))
    h.executor.tracker.workload_event("DELETED", h.workload(spec, "running"))
    assert (h.record().state, h.record().reason) == ("stopped", "Killed")


def test_kill_of_a_vanished_object_counts_as_done(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    del h.server.state.objects[h.path(spec.run_name)]  # so the kill is answered 404
    h.executor.kill(spec.run_id)
    (kill,) = h.kills()
    assert kill.path == h.path(spec.run_name)
    assert h.record().state == "stopped"


def test_kill_forbidden_leaves_the_run_as_it_was(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.fail(kill_method(h), 403, name=spec.run_name)
    verb = kill_method(h).lower()
    with pytest.raises(Forbidden, match=f"lacks {verb} on"):
        h.executor.kill(spec.run_id)
    assert h.record().state == "running"
    assert not h.executor.tracker.tracked(spec.run_id).killing


def test_kill_unknown_or_finished(h: Harness) -> None:
    with pytest.raises(NotFound):
        h.executor.kill("nope")
    spec = make_spec()
    h.launched(spec, "success")
    before = len(h.server.requests(kill_method(h)))  # the launch resumed it (a patch, for Argo)
    h.executor.kill(spec.run_id)
    assert len(h.server.requests(kill_method(h))) == before
    assert h.record().state == "success"


# -- logs ------------------------------------------------------------------------------------------


def test_log_tail_is_captured_when_the_pod_finishes(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.pod_log(spec, "x" * 5000 + "THE END")
    h.executor.tracker.pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    (read,) = h.server.log_reads()
    assert read.query["container"] == "main"
    assert read.query["tailLines"] == "200"
    assert read.query["limitBytes"] == "1000"
    assert h.server.state.timeouts[-1] > 0
    tail = h.executor.tracker.log_tail(spec.run_id)
    assert len(tail) == 1000 and tail.endswith("THE END")
    # Only once per pod.
    h.executor.tracker.pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    assert len(h.server.log_reads()) == 1


def test_logs_live_then_captured(h: Harness) -> None:
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Running"}))
    h.pod_log(spec, "line 1\nline 2\n")
    chunk = h.executor.logs(spec.run_id)
    # A running run: the end of what is there so far, and a cursor to poll from.
    assert (chunk.content, chunk.after, chunk.total) == ("line 1\nline 2\n", 14, 14)
    assert h.server.log_reads()[-1].query["container"] == "main"
    h.pod_log(spec, "tail\n")
    h.executor.tracker.pod_event("MODIFIED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "success"))
    h.executor.tracker.pod_event("DELETED", h.pod(spec, {"phase": "Succeeded"}))
    h.server.state.errors[PODS.path("ingestion", spec.run_name + "-pod", "log")] = (404, "boom")
    last = h.executor.logs(spec.run_id)
    assert (last.content, last.after, last.total) == ("tail\n", None, 5)
    with pytest.raises(NotFound):
        h.executor.logs("nope")


def test_logs_come_in_bounded_chunks_until_the_end(h: Harness) -> None:
    h.executor.log_chunk_bytes = 1000
    spec = make_spec()
    h.launched(spec, "success")
    h.executor.tracker.pod_event("ADDED", h.pod(spec, {"phase": "Succeeded"}))
    assert h.executor.wait_idle()
    text = "".join(f"line {i} é€\n" for i in range(400))  # multi-byte characters too
    h.pod_log(spec, text)
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


def test_launch_409_then_gone_creates_once_more(h: Harness) -> None:
    spec = make_spec()
    h.fail("POST", 409, "already exists")  # then, read, it is not found
    h.answer(h.workload(spec))
    h.executor.launch(spec)
    assert len(h.creates()) == 2
    assert [read.path for read in h.reads()] == [h.path(spec.run_name)]
    assert h.record().state == "queued"


def test_from_settings_warns_about_the_other_executors_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(SIMPLEK8S_PIPELINE_TYPE_CONFIGS='{"metadata": {"nodeSelector": {}}}')
    with caplog.at_level("WARNING"):
        argo.from_settings(settings)
    assert "SIMPLEK8S_PIPELINE_TYPE_CONFIGS is set but has no effect with EXECUTOR_TYPE=argo" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        simple_k8s.from_settings(settings)
    assert caplog.text == ""


def test_a_pod_ending_from_our_kill_reports_stopped_not_failed() -> None:
    # Found by the e2e suite: the pod's exit 143 reached the runner before the Workflow's phase.
    h = build("argo")
    spec = make_spec()
    h.launched(spec, "running")
    h.executor.kill(spec.run_id)
    h.executor.tracker.pod_event(
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
