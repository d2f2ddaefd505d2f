"""The runner's metrics as Collate's Grafana dashboard reads them: every expression of that
dashboard (shared/notes/collate-chart.md §4) is checked against a real scrape of a running
runner that ran pipelines, and the scrape passes Prometheus' own ``promtool check metrics``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from runtime.devkit.reference_server import ReferenceServer
from runtime.observability.metrics import JOB_STATUS, Metrics
from runtime.wire.messages import RunUpdate
from tests import promtool
from tests.conftest import AGENT, MakeRunner, http_get, sample

#: Collate's dashboard panel by panel (notes §4; its chart's dashboards/*.json).
COLLATE_DASHBOARD = {
    "Agent Connection Status": ["collate_hybrid_agent_connected"],
    "Jobs Counter Total": ["collate_hybrid_agent_jobs_counter_total"],
    "Jobs by Status": ["sum by (status) (collate_hybrid_agent_jobs_total)"],
    "CPU Usage": ["collate_hybrid_agent_cpu_usage"],
    "Memory Usage": ["collate_hybrid_agent_memory_usage"],
    "Server Response Time": [
        "rate(collate_hybrid_agent_server_response_time_seconds_sum[5m])"
        " / rate(collate_hybrid_agent_server_response_time_seconds_count[5m])",
        "collate_hybrid_agent_server_response_time_seconds_max",
    ],
    "Resource Usage Over Time": [
        "collate_hybrid_agent_cpu_usage",
        "collate_hybrid_agent_memory_usage",
    ],
    "Executor Response Time": [
        "rate(collate_hybrid_agent_executor_response_time_seconds_sum[5m])"
        " / rate(collate_hybrid_agent_executor_response_time_seconds_count[5m])",
        "collate_hybrid_agent_executor_response_time_seconds_max",
    ],
    "Job Rate (5m)": ["rate(collate_hybrid_agent_jobs_total[5m])"],
    "Connection Status Over Time": ["collate_hybrid_agent_connected"],
}
_NAME = re.compile(r"\bcollate_hybrid_agent_[a-z_]+\b")
_BY = re.compile(r"\bby \(([^)]*)\)")
_RATED = re.compile(r"\brate\((collate_hybrid_agent_[a-z_]+)\[")


def _samples(families: list[Metric]) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it was exported with."""
    found: dict[str, list[dict[str, str]]] = {}
    for family in families:
        for s in family.samples:
            found.setdefault(s.name, []).append(s.labels)
    return found


def _type_of(families: list[Metric], sample_name: str) -> str:
    for family in families:
        if any(s.name == sample_name for s in family.samples):
            return family.type
    raise AssertionError(f"{sample_name} not exported")


async def _run_to_the_end(server: ReferenceServer, frame: dict[str, object]) -> str:
    reply = await server.request(AGENT, frame)
    assert reply["ok"] is True, reply
    run_id = reply["result"]["runId"]
    final = await server.wait_event(
        AGENT,
        lambda e: (
            e["type"] == "run_update"
            and e["runId"] == run_id
            and e["state"] in ("success", "failed", "partialSuccess", "stopped")
        ),
        timeout=30,
    )
    return str(final["state"])


async def _scrape_after_runs(server: ReferenceServer, make_runner: MakeRunner) -> str:
    runner = await make_runner()
    ok = {**sample("run_pipeline.json"), "config": {"standIn": {"seconds": 0}}}
    failing = {
        **sample("run_pipeline.json"),
        "id": "req-run-fails",
        "runId": str(uuid.uuid4()),
        "config": {"standIn": {"seconds": 0, "exitCode": 1}},
    }
    assert await _run_to_the_end(server, ok) == "success"
    assert await _run_to_the_end(server, failing) == "failed"
    assert await _run_to_the_end(server, sample("test_connection.json")) == "success"
    status, text = await http_get(f"http://127.0.0.1:{runner.port}/metrics")
    assert status == 200
    return text


async def test_collates_dashboard_finds_every_series_it_reads_in_a_real_scrape(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    text = await _scrape_after_runs(server, make_runner)
    families = list(text_string_to_metric_families(text))
    exported = _samples(families)
    for panel, exprs in COLLATE_DASHBOARD.items():
        for expr in exprs:
            names = _NAME.findall(expr)
            assert names, expr
            for name in names:
                assert exported.get(name), f"{panel}: {name} has no sample in the scrape"
                for label in (lb.strip() for by in _BY.findall(expr) for lb in by.split(",")):
                    assert all(label in labels for labels in exported[name]), (panel, name, label)
            for name in _RATED.findall(expr):
                assert _type_of(families, name) in ("counter", "histogram"), (panel, name)
    # What the panels then show, for the runs above.
    jobs = {
        (s.labels["type"], s.labels["status"]): s.value
        for f in families
        for s in f.samples
        if s.name == "collate_hybrid_agent_jobs_total"
    }
    assert jobs == {
        ("pipeline", "succeeded"): 1,
        ("pipeline", "failed"): 1,
        ("automation", "succeeded"): 1,
    }
    values = {s.name: s.value for f in families for s in f.samples if not s.labels}
    assert values["collate_hybrid_agent_jobs_counter_total"] == 3
    assert values["collate_hybrid_agent_connected"] == 1
    assert values["collate_hybrid_agent_cpu_usage"] >= 0
    assert 10 < values["collate_hybrid_agent_memory_usage"] < 4096  # MiB
    launch_max = [
        s.value
        for f in families
        for s in f.samples
        if s.name == "collate_hybrid_agent_executor_response_time_seconds_max"
        and s.labels == {"operation": "launch"}
    ]
    assert launch_max and 0 < launch_max[0] < 30


async def test_a_finished_run_is_counted_before_the_server_hears_it_finished(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    """A scrape taken when the final ``run_update`` arrives already counts that run."""
    runner = await make_runner()
    counted_when_sent: list[float | None] = []
    emit = runner.connection.emit

    def watching_emit(event: Any) -> None:
        if isinstance(event, RunUpdate) and event.state == "success":
            counted_when_sent.append(
                runner.metrics.registry.get_sample_value(
                    "collate_hybrid_agent_jobs_total", {"type": "automation", "status": "succeeded"}
                )
            )
        emit(event)

    runner.connection.emit = watching_emit  # type: ignore[method-assign]
    assert await _run_to_the_end(server, sample("test_connection.json")) == "success"
    assert counted_when_sent == [1.0]


async def test_the_scrape_passes_promtools_metric_lint(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    """Clean but for one name that Collate's dashboard fixes (a counter named ``_counter``)."""
    text = await _scrape_after_runs(server, make_runner)
    code, out = promtool.run("check", "metrics", stdin=text)
    problems = [line for line in out.splitlines() if line.strip()]
    assert problems == [
        "collate_hybrid_agent_jobs_counter_total metric name should not include type 'counter'"
    ], out
    assert code == 3  # promtool: lint problems found (an error in the input would be 1)


def test_the_max_gauges_follow_the_histograms_they_sit_beside() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.server_response_time.labels("run_pipeline").observe(0.4)
    metrics.server_response_time.labels("run_pipeline").observe(0.1)
    get = metrics.registry.get_sample_value
    name = "collate_hybrid_agent_server_response_time_seconds"
    assert get(f"{name}_count", {"type": "run_pipeline"}) == 2
    assert get(f"{name}_sum", {"type": "run_pipeline"}) == 0.5
    assert get(f"{name}_max", {"type": "run_pipeline"}) == 0.4


def test_run_outcomes_use_collates_status_names() -> None:
    metrics = Metrics(CollectorRegistry())
    for state in ("success", "failed", "partialSuccess", "stopped", "success"):
        metrics.run_finished("pipeline", state)
    get = metrics.registry.get_sample_value
    by_status = {
        status: get("collate_hybrid_agent_jobs_total", {"type": "pipeline", "status": status})
        for status in ("succeeded", "failed", "partialSuccess", "stopped")
    }
    assert by_status == {"succeeded": 2, "failed": 1, "partialSuccess": 1, "stopped": 1}
    assert JOB_STATUS == {"success": "succeeded"}
