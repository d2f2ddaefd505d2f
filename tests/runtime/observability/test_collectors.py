"""The window-max gauges and the process CPU/memory gauges Collate's dashboard plots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from runtime.observability.collectors import ProcessUsage, WindowMax, available_cpus, rss_bytes


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    found = registry.get_sample_value(name, labels or {})
    assert found is not None, f"{name}{labels} not exported"
    return found


def test_window_max_reports_the_largest_observation_of_the_last_minute() -> None:
    clock, registry = FakeClock(), CollectorRegistry()
    latency = WindowMax("x_seconds_max", "X.", ["type"], registry=registry, clock=clock)
    latency.labels("ping").observe(0.30)
    clock.now += 10
    latency.labels("ping").observe(0.10)
    latency.labels("ping").observe(0.05)
    assert _value(registry, "x_seconds_max", {"type": "ping"}) == 0.30
    clock.now += 49  # 59 s after the 0.30: still in the window
    assert _value(registry, "x_seconds_max", {"type": "ping"}) == 0.30
    clock.now += 6  # 65 s after it: forgotten; the 0.10 (55 s old) is the largest left
    assert _value(registry, "x_seconds_max", {"type": "ping"}) == 0.10
    clock.now += 10  # nothing in the last minute
    assert _value(registry, "x_seconds_max", {"type": "ping"}) == 0.0


def test_window_max_keeps_each_label_set_apart_and_is_a_gauge() -> None:
    registry = CollectorRegistry()
    latency = WindowMax("x_seconds_max", "X.", ["operation"], registry=registry)
    latency.labels("launch").observe(2.5)
    latency.labels("render").observe(0.01)
    assert _value(registry, "x_seconds_max", {"operation": "launch"}) == 2.5
    assert _value(registry, "x_seconds_max", {"operation": "render"}) == 0.01
    text = generate_latest(registry).decode()
    assert "# TYPE x_seconds_max gauge" in text


def test_window_max_names_collide_like_any_metric() -> None:
    registry = CollectorRegistry()
    WindowMax("x_seconds_max", "X.", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        WindowMax("x_seconds_max", "X again.", registry=registry)


def test_cpu_usage_is_the_percent_of_the_available_cpus_between_readings() -> None:
    clock, cpu = FakeClock(), FakeClock()
    usage = ProcessUsage(CollectorRegistry(), clock=clock, cpu_time=cpu, cpus=2)
    clock.now += 10
    cpu.now += 5  # 5 CPU-seconds in 10 s on 2 CPUs
    assert usage.cpu_percent() == pytest.approx(25.0)
    clock.now += 0.5
    cpu.now += 0.5  # a second scrape within 1 s shares the previous reading
    assert usage.cpu_percent() == pytest.approx(25.0)
    clock.now += 1.5
    assert usage.cpu_percent() == pytest.approx(100 * 0.5 / 2.0 / 2)
    clock.now += 30  # idle
    assert usage.cpu_percent() == 0.0


def test_a_busy_process_shows_more_cpu_than_an_idle_one() -> None:
    registry = CollectorRegistry()
    ProcessUsage(registry)
    busy_until = time.process_time() + 0.3
    while time.process_time() < busy_until:
        pass
    busy = _value(registry, "collate_hybrid_agent_cpu_usage")
    time.sleep(1.2)
    idle = _value(registry, "collate_hybrid_agent_cpu_usage")
    assert busy > 0
    assert idle < busy


def test_memory_usage_is_resident_memory_in_mib_and_follows_allocations() -> None:
    registry = CollectorRegistry()
    ProcessUsage(registry)
    before = _value(registry, "collate_hybrid_agent_memory_usage")
    status = Path("/proc/self/status").read_text()
    vm_rss_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
    )
    assert before == pytest.approx(vm_rss_kib / 1024, abs=8)
    block = bytes(range(256)) * (64 * 4096)  # 64 MiB, every page written
    after = _value(registry, "collate_hybrid_agent_memory_usage")
    assert after - before > 56
    assert rss_bytes() > len(block)


def test_available_cpus_follow_the_containers_cpu_limit(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max) == 0.5
    cpu_max.write_text("max 100000\n")
    unlimited = available_cpus(cpu_max)
    assert unlimited >= 1
    assert available_cpus(tmp_path / "missing") == unlimited
