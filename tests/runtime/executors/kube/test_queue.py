"""The cap on active runs on both Kubernetes executors (runtime/executors/kube/queue.py): a run
over MAX_ACTIVE_RUNS waits as a suspended workload, reported ``queued`` / ``MaxActiveRuns``, and
is resumed in arrival order when a slot frees; only the leading replica resumes; a waiting run
killed never starts; a restarted runner finds the queue in the cluster. The executor talks to
the HTTP fake of the API server (tests/runtime/kube_api_server.py), which keeps the workloads
it creates; the tests read the resumes and deletes it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from runtime.executors.base import LaunchSpec
from tests.runtime.executors.k8s_harness import Harness, build
from tests.runtime.executors.k8s_support import make_spec
from tests.runtime.kube_api_server import Seen

KINDS = ("argo", "simpleK8s")


@pytest.fixture(params=KINDS)
def capped(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = capped_harness(request.param, MAX_ACTIVE_RUNS="2")
    yield h
    asyncio.run(h.executor.stop())


def capped_harness(kind: str, **env: str) -> Harness:
    """The HTTP fake answers a create with the object as sent (suspended, annotated), plus a
    uid, and keeps it, as the API server does."""
    return build(kind, settings_env=env)


def name_of(seen: Seen) -> str:
    """The workload a request was about (the last segment of its path)."""
    return seen.path.rsplit("/", 1)[-1]


def resumed_names(h: Harness) -> list[str]:
    """The workloads the runner resumed, in order."""
    assert h.executor.wait_idle(5)
    return [name_of(s) for s in h.patches() if "suspend" in (s.body or {}).get("spec", {})]


def launch(h: Harness, run_id: str, pipeline_type: str = "metadata") -> LaunchSpec:
    spec = make_spec(run_id, pipeline_type=pipeline_type)
    h.wall.advance(1)  # one arrival after the other
    h.executor.launch(spec)
    return spec


def finish(h: Harness, spec: LaunchSpec) -> None:
    """The run's workload, resumed and then finished, as the watch reports it."""
    h.executor.tracker.workload_event("MODIFIED", h.workload(spec, "success"))


def state(h: Harness, spec: LaunchSpec) -> tuple[str, str | None]:
    record = h.executor.table.get(spec.run_id)
    assert record is not None
    return record.state, record.reason


def test_runs_over_the_cap_wait_suspended_and_start_in_arrival_order(capped: Harness) -> None:
    h = capped
    specs = [launch(h, f"run-{i}") for i in range(5)]
    assert resumed_names(h) == [s.run_name for s in specs[:2]]
    assert [state(h, s) for s in specs] == [("queued", None)] * 2 + [
        ("queued", "MaxActiveRuns")
    ] * 3
    record = h.executor.table.get(specs[4].run_id)
    assert record is not None and record.message is not None
    assert "MAX_ACTIVE_RUNS=2" in record.message
    assert (h.executor.table.active_count, h.executor.table.queued_count) == (2, 3)
    finish(h, specs[1])
    assert resumed_names(h) == [s.run_name for s in specs[:3]], "the oldest waiting run next"
    assert state(h, specs[2]) == ("queued", None)
    finish(h, specs[0])
    finish(h, specs[2])
    assert resumed_names(h) == [s.run_name for s in specs]
    assert (h.executor.table.active_count, h.executor.table.queued_count) == (2, 0)


def test_a_waiting_run_goes_queued_then_running_once_resumed(capped: Harness) -> None:
    h = capped
    seen: list[tuple[str, str, str | None]] = []
    h.executor.table.subscribe(lambda new, old: seen.append((new.run_id, new.state, new.reason)))
    first, _, third = (launch(h, f"run-{i}") for i in range(3))
    # A run that starts at once never says it waited; one over the cap does.
    assert [(s, r) for run, s, r in seen if run == first.run_id] == [("queued", None)]
    finish(h, first)
    assert resumed_names(h)[-1] == third.run_name
    # The watch shows it resumed, then its pod runs.
    h.executor.tracker.workload_event("MODIFIED", h.workload(third, "queued"))
    h.executor.tracker.pod_event("ADDED", h.pod(third, {"phase": "Running"}))
    assert [(s, r) for run, s, r in seen if run == third.run_id] == [
        ("queued", "MaxActiveRuns"),
        ("queued", None),
        ("running", None),
    ]


def test_argo_adds_the_time_a_workflow_waited_to_its_deadline_when_it_resumes_it() -> None:
    """Argo counts a Workflow's deadline from startedAt, set when it was created suspended:
    the runner sets it, at the resume, to the limit plus the wait."""
    h = capped_harness("argo", MAX_ACTIVE_RUNS="1", RUN_TIMEOUT_SECONDS="3600")
    try:
        first, waiting = launch(h, "run-0"), launch(h, "run-1")
        started = h.workload(waiting, suspended=True)
        started["status"] = {"phase": "Running", "startedAt": "2024-05-01T10:00:05Z"}
        h.executor.tracker.workload_event("MODIFIED", started)
        h.wall.now = 1_714_557_605.0 + 4000.5  # it waited 4000.5 s, past its own deadline
        finish(h, first)
        assert resumed_names(h)[-1] == waiting.run_name
        body = h.patches()[-1].body
        assert body == {"spec": {"suspend": None, "activeDeadlineSeconds": 3600 + 4001}}
    finally:
        asyncio.run(h.executor.stop())


def test_a_job_needs_no_deadline_change_its_clock_starts_at_the_resume() -> None:
    h = capped_harness("simpleK8s", MAX_ACTIVE_RUNS="1")
    try:
        first, waiting = launch(h, "run-0"), launch(h, "run-1")
        h.wall.advance(4000)
        finish(h, first)
        assert resumed_names(h)[-1] == waiting.run_name
        assert h.patches()[-1].body == {"spec": {"suspend": False}}
    finally:
        asyncio.run(h.executor.stop())


def test_the_cap_per_pipeline_type_lets_other_types_go_ahead() -> None:
    h = capped_harness("simpleK8s", MAX_ACTIVE_RUNS="3", MAX_ACTIVE_RUNS_PER_TYPE='{"profiler": 1}')
    try:
        profiler = [launch(h, f"prof-{i}", "profiler") for i in range(2)]
        metadata = [launch(h, f"meta-{i}") for i in range(3)]
        # profiler 1/1 and metadata 2 fill the 3 slots; the second profiler waits for its type.
        expected = [profiler[0].run_name, metadata[0].run_name, metadata[1].run_name]
        assert resumed_names(h) == expected
        record = h.executor.table.get(profiler[1].run_id)
        assert record is not None and "MAX_ACTIVE_RUNS_PER_TYPE profiler=1" in str(record.message)
        finish(h, metadata[0])
        # A metadata slot freed, but the profiler cap still holds: the next metadata run goes.
        assert resumed_names(h)[-1] == metadata[2].run_name
        finish(h, profiler[0])
        assert resumed_names(h)[-1] == profiler[1].run_name
    finally:
        asyncio.run(h.executor.stop())


def test_only_the_leading_replica_resumes(capped: Harness) -> None:
    h = capped
    leading = False
    h.executor.set_leading(lambda: leading)
    specs = [launch(h, f"run-{i}") for i in range(3)]
    h.executor.tracker.housekeeping()
    assert resumed_names(h) == []
    assert h.executor.table.queued_count == 3
    leading = True
    h.executor.promote()  # what the connection calls once the server accepts it
    assert resumed_names(h) == [s.run_name for s in specs[:2]]


def test_killing_a_waiting_run_stops_it_before_it_ever_starts(capped: Harness) -> None:
    h = capped
    specs = [launch(h, f"run-{i}") for i in range(3)]
    h.executor.kill(specs[2].run_id)
    record = h.executor.table.get(specs[2].run_id)
    assert record is not None
    assert (record.state, record.reason) == ("stopped", "Killed")
    assert "before it started" in str(record.message)
    assert name_of(h.deletes()[-1]) == specs[2].run_name
    if h.kind == "argo":
        # Deleted, not shut down: a suspended Workflow never ends on a shutdown.
        assert all("shutdown" not in s.body["spec"] for s in h.patches())
    finish(h, specs[0])
    assert specs[2].run_name not in resumed_names(h), "never resumed"
    assert [s for s, _ in (u for u in h.updates)].count("running") == 0


def test_a_restarted_runner_finds_the_queue_and_keeps_its_order() -> None:
    """Re-adoption lists the workloads: suspended ones are the waiting runs, ordered by their
    queued-at annotation (not by name), and the cap counts the ones already running."""
    h = capped_harness("argo", MAX_ACTIVE_RUNS="2")
    try:
        running = make_spec("running")
        late, early, middle = make_spec("a-late"), make_spec("z-early"), make_spec("m-middle")
        objects = [h.workload(running, "running")]
        for spec, at in ((late, 300), (early, 100), (middle, 200)):
            obj = h.workload(spec, suspended=True)
            obj["metadata"]["annotations"]["hybrid-runner.io/queued-at"] = str(at)
            objects.append(obj)
        for obj in objects:
            h.put(obj)  # in the cluster, where the resumes find them
        h.executor.tracker.sync_workloads(objects)
        assert resumed_names(h) == [early.run_name]
        finish(h, running)
        assert resumed_names(h) == [early.run_name, middle.run_name]
    finally:
        asyncio.run(h.executor.stop())


def test_a_scheduled_workload_created_suspended_joins_the_queue_by_creation_time() -> None:
    h = capped_harness("simpleK8s", MAX_ACTIVE_RUNS="1")
    try:
        first = launch(h, "run-0")
        scheduled = h.workload(make_spec("sched"), suspended=True)
        annotations = scheduled["metadata"]["annotations"]
        del annotations["hybrid-runner.io/run-id"]
        annotations["hybrid-runner.io/schedule"] = "omsched-x"
        scheduled["metadata"]["creationTimestamp"] = "2024-05-01T10:00:30Z"
        h.put(scheduled)  # the CronJob made it
        h.executor.tracker.workload_event("ADDED", scheduled)
        uid = scheduled["metadata"]["uid"]
        assert state_of(h, uid) == ("queued", "MaxActiveRuns")
        finish(h, first)
        assert resumed_names(h)[-1] == scheduled["metadata"]["name"]
    finally:
        asyncio.run(h.executor.stop())


def state_of(h: Harness, run_id: str) -> tuple[str, str | None]:
    record = h.executor.table.get(run_id)
    assert record is not None
    return record.state, record.reason


def test_a_resume_that_fails_leaves_the_run_waiting_and_is_tried_again(capped: Harness) -> None:
    h = capped
    specs = [launch(h, f"run-{i}") for i in range(3)]
    h.fail("PATCH", 403, "patch forbidden", name=specs[2].run_name)
    finish(h, specs[0])
    assert h.executor.wait_idle(5)
    assert state(h, specs[2]) == ("queued", "MaxActiveRuns")
    h.executor.tracker.housekeeping()
    assert resumed_names(h)[-1] == specs[2].run_name
    assert len(h.patches(specs[2].run_name)) == 2, "the refused resume, then the one that took"
    assert state(h, specs[2]) == ("queued", None)
