"""Which waiting runs may start (runtime/executors/admission.py): arrival order under
MAX_ACTIVE_RUNS, and a pipeline type at its own cap holding up no other type."""

from __future__ import annotations

from runtime.executors.admission import Candidate, Limits, admit, queues_runs
from tests.runtime.executors.k8s_support import make_settings


def waiting(*runs: tuple[str, str, int]) -> list[Candidate]:
    return [Candidate(run_id, kind, (at, run_id)) for run_id, kind, at in runs]


def test_runs_start_in_arrival_order_while_slots_are_free() -> None:
    queue = waiting(("c", "metadata", 3), ("a", "metadata", 1), ("b", "usage", 2))
    assert admit(Limits(total=3), {"metadata": 1}, queue) == ["a", "b"]
    assert admit(Limits(total=1), {"metadata": 1}, queue) == []
    assert admit(Limits(), {"metadata": 50}, queue) == ["a", "b", "c"], "no cap: all of them"


def test_a_type_at_its_cap_lets_the_others_behind_it_go() -> None:
    queue = waiting(("p1", "profiler", 1), ("p2", "profiler", 2), ("m1", "metadata", 3))
    limits = Limits(total=10, per_type={"profiler": 1})
    assert admit(limits, {"profiler": 1}, queue) == ["m1"]
    assert admit(limits, {}, queue) == ["p1", "m1"], "one profiler, in order"


def test_ties_in_arrival_go_by_name() -> None:
    queue = [Candidate("x", "metadata", (5, "b-job")), Candidate("y", "metadata", (5, "a-job"))]
    assert admit(Limits(total=1), {}, queue) == ["y"]


def test_a_waiting_run_says_which_caps_hold_it() -> None:
    limits = Limits(total=10, per_type={"profiler": 2})
    assert limits.waiting_message("profiler") == (
        "waiting for a slot (MAX_ACTIVE_RUNS=10, MAX_ACTIVE_RUNS_PER_TYPE profiler=2); "
        "starts in arrival order"
    )
    assert "MAX_ACTIVE_RUNS=10)" in limits.waiting_message("metadata")
    assert "connected to the server" in Limits().waiting_message("metadata")


def test_any_cap_queues_scheduled_runs_too() -> None:
    assert not queues_runs(make_settings())
    assert queues_runs(make_settings(MAX_ACTIVE_RUNS="5"))
    assert queues_runs(make_settings(MAX_ACTIVE_RUNS_PER_TYPE='{"dbt": 1}'))
