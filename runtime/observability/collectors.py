"""Custom Prometheus collectors for the series Collate's dashboard reads that prometheus_client
has no ready-made type for: a maximum over a sliding window, and the process's CPU and memory.

Collate's runner is a JVM service that exports Micrometer's ``_max`` gauges (the largest
observation in a recent window) and process CPU/memory gauges; its Grafana dashboard plots
them. These collectors compute the same things for this Python process, cheaply enough to sit
on the per-message path: a window-max observation is one clock read and a compare.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Clock = Callable[[], float]

#: The window of the ``_max`` gauges: 12 rotating slots of 5 s, so an observation is reported
#: for 55 to 60 s after it was made (then the gauge falls back to the window's next largest, or 0).
WINDOW_SLOTS = 12
WINDOW_SLOT_SECONDS = 5.0
#: Two scrapes closer than this share one CPU reading (the delta would be mostly noise).
CPU_MIN_INTERVAL = 1.0


class WindowMaxChild:
    """One label set's rotating slots: slot ``i % n`` holds the maximum of time slot ``i``."""

    __slots__ = ("_clock", "_index", "_lock", "_n", "_peak", "_width")

    def __init__(self, clock: Clock, slots: int, width: float) -> None:
        self._clock = clock
        self._n = slots
        self._width = width
        self._index = [-1] * slots
        self._peak = [0.0] * slots
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = int(self._clock() // self._width)
        s = i % self._n
        with self._lock:
            if self._index[s] != i:
                self._index[s] = i
                self._peak[s] = value
            elif value > self._peak[s]:
                self._peak[s] = value

    def value(self) -> float:
        oldest = int(self._clock() // self._width) - self._n
        with self._lock:
            live = [p for i, p in zip(self._index, self._peak, strict=True) if i > oldest]
        return max(live, default=0.0)


class WindowMax(Collector):
    """A gauge family: per label set, the largest value observed in the last window."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        registry: CollectorRegistry | None,
        clock: Clock = time.monotonic,
        slots: int = WINDOW_SLOTS,
        slot_seconds: float = WINDOW_SLOT_SECONDS,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._clock = clock
        self._slots = slots
        self._width = slot_seconds
        self._children: dict[tuple[str, ...], WindowMaxChild] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> WindowMaxChild:
        assert len(values) == len(self.labelnames), (self.name, values)
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.setdefault(
                    values, WindowMaxChild(self._clock, self._slots, self._width)
                )
        return child

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            family.add_metric(list(values), child.value())
        return [family]


def rss_bytes() -> float:
    """Resident set size of this process (Linux: /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> float:
    """The CPUs this process may use: its cgroup v2 quota (a container's CPU limit) when there is
    one, else the CPUs it may be scheduled on."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cpus = float(os.cpu_count() or 1)
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return min(cpus, int(quota) / int(period))


class ProcessUsage(Collector):
    """``collate_hybrid_agent_cpu_usage`` and ``collate_hybrid_agent_memory_usage``.

    CPU: the process's CPU time (all threads, user + system; not its child processes) between
    the previous reading and this scrape, as a percent of the CPUs it may use (so 100 means its
    CPU limit, or every core, is busy). The first reading covers the time since start-up.
    Memory: resident set size in MiB ("MB", as Collate's metric documentation says).
    """

    CPU = "collate_hybrid_agent_cpu_usage"
    MEMORY = "collate_hybrid_agent_memory_usage"

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        clock: Clock = time.monotonic,
        cpu_time: Clock = time.process_time,
        rss: Clock = rss_bytes,
        cpus: float | None = None,
    ) -> None:
        self._clock = clock
        self._cpu_time = cpu_time
        self._rss = rss
        self._cpus = cpus if cpus is not None else available_cpus()
        self._last = (clock(), cpu_time())
        self._percent: float | None = None
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def cpu_percent(self) -> float:
        now, cpu = self._clock(), self._cpu_time()
        with self._lock:
            then, cpu_then = self._last
            if self._percent is None or now - then >= CPU_MIN_INTERVAL:
                elapsed = max(now - then, 1e-9)
                self._percent = 100.0 * (cpu - cpu_then) / elapsed / self._cpus
                self._last = (now, cpu)
            return self._percent

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(self.CPU, _CPU_HELP),
            GaugeMetricFamily(self.MEMORY, _MEMORY_HELP),
        ]

    def collect(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(self.CPU, _CPU_HELP, value=self.cpu_percent()),
            GaugeMetricFamily(self.MEMORY, _MEMORY_HELP, value=self._rss() / 2**20),
        ]


_CPU_HELP = (
    "Runner process CPU use since the previous scrape, percent of the CPUs it may use "
    "(its cgroup CPU limit, else its cores)."
)
_MEMORY_HELP = "Runner process resident memory, MiB."
