"""Prometheus metrics, built on a registry the caller injects (one per runner, one per test).

The ``collate_hybrid_agent_*`` names are the series Collate's own runner exports and its Grafana
dashboard and alerts read (notes: shared/notes/collate-chart.md §4), with the same meaning, so
that dashboard works unchanged on this runner; the ``hybrid_runner_*`` names are this runner's.
Label values are bounded sets (message types, run kinds, outcomes, states, reasons, backends);
run ids, FQNs and secret ids are never labels.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from runtime.observability.audit import RULES
from runtime.observability.collectors import ProcessUsage, WindowMax, WindowMaxChild

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: ``collate_hybrid_agent_jobs_total{status}``: a run's final state as Collate's runner names it
#: ("succeeded", as its documentation shows); other final states keep the runner's own name.
JOB_STATUS = {"success": "succeeded"}


class LatencyChild:
    """One label set of a ``Latency``: observing updates the histogram and the window max."""

    __slots__ = ("_histogram", "_max")

    def __init__(self, histogram: Histogram, window_max: WindowMaxChild) -> None:
        self._histogram = histogram
        self._max = window_max

    def observe(self, seconds: float) -> None:
        self._histogram.observe(seconds)
        self._max.observe(seconds)


class Latency:
    """A histogram ``<name>`` (``_bucket``, ``_sum``, ``_count``) plus the gauge ``<name>_max``:
    the largest observation in the last 55-60 s (Micrometer's ``_max``, which Collate plots)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.histogram = Histogram(
            name, documentation, labelnames, buckets=_LATENCY_BUCKETS, registry=registry
        )
        self.max = WindowMax(
            f"{name}_max",
            f"Largest in the last 60 s (12 rotating 5-s slots): {documentation[0].lower()}"
            f"{documentation[1:]}",
            labelnames,
            registry=registry,
        )

    def labels(self, *values: str) -> LatencyChild:
        return LatencyChild(self.histogram.labels(*values), self.max.labels(*values))


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._declare_collate_series(self.registry)
        self._declare_runner_series(self.registry)
        self._declare_boundary_series(self.registry)

    def _declare_collate_series(self, r: CollectorRegistry) -> None:
        """The series Collate's dashboard and alerts read, under the names they use."""
        self.connected = Gauge(
            "collate_hybrid_agent_connected",
            "1 while the runner holds an accepted connection to the server.",
            registry=r,
        )
        self.jobs = Counter(
            "collate_hybrid_agent_jobs",
            "Runs that reached a final state, by run kind and outcome (succeeded, failed, "
            "partialSuccess, stopped).",
            ["type", "status"],
            registry=r,
        )
        self.jobs_created = Counter(
            "collate_hybrid_agent_jobs_counter",
            "Jobs created by the runner: runs it launched on the executor.",
            registry=r,
        )
        self.server_response_time = Latency(
            "collate_hybrid_agent_server_response_time_seconds",
            "Time from receiving a request to sending its reply.",
            ["type"],
            r,
        )
        self.executor_response_time = Latency(
            "collate_hybrid_agent_executor_response_time_seconds",
            "Time of executor calls (launch, render).",
            ["operation"],
            r,
        )
        self.process = ProcessUsage(r)

    def _declare_runner_series(self, r: CollectorRegistry) -> None:
        """This runner's own series (``hybrid_runner_*``), for its alerts and for operators."""
        self.launches = Counter(
            "hybrid_runner_launches",
            "Launch and deploy requests carried out, by message type and result "
            "(launched, failed, deployed).",
            ["type", "status"],
            registry=r,
        )
        self.messages = Counter(
            "hybrid_runner_messages",
            "Frames received from the server, by message type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.reconnects = Counter(
            "hybrid_runner_reconnects", "Connection attempts after the first.", registry=r
        )
        self.connection_failures = Counter(
            "hybrid_runner_connection_failures",
            "Failed or closed connections, by cause.",
            ["cause"],
            registry=r,
        )
        self.auth_failures = Counter(
            "hybrid_runner_auth_failures",
            "Connections the server refused for the token or agent (4401/4403/HTTP 401/403).",
            registry=r,
        )
        self.standby = Gauge(
            "hybrid_runner_standby",
            "1 while this replica is standby (its agent id is connected elsewhere).",
            registry=r,
        )
        self.active_runs = Gauge(
            "hybrid_runner_active_runs",
            "Runs started and not yet final (what MAX_ACTIVE_RUNS caps; a pod still pending "
            "counts).",
            registry=r,
        )
        self.queued_runs = Gauge(
            "hybrid_runner_queued_runs",
            "Runs accepted and waiting for a slot under MAX_ACTIVE_RUNS / "
            "MAX_ACTIVE_RUNS_PER_TYPE.",
            registry=r,
        )
        self.run_transitions = Counter(
            "hybrid_runner_run_state_transitions",
            "Run state changes observed, by new state and reason.",
            ["state", "reason"],
            registry=r,
        )
        self.events_dropped = Counter(
            "hybrid_runner_events_dropped",
            "Events dropped because the outbox was full while disconnected.",
            registry=r,
        )
        self.build_info = Info("hybrid_runner_build", "Runner version and executor.", registry=r)

    def _declare_boundary_series(self, r: CollectorRegistry) -> None:
        """What the secret preflight and the operator's boundary decided about requests."""
        self.secret_preflight = Counter(
            "hybrid_runner_secret_preflight",
            "Secret reference checks, by backend and result.",
            ["backend", "result"],
            registry=r,
        )
        self.refused = Counter(
            "hybrid_runner_refused",
            "Requests refused by the operator's policy, by rule: image (outside "
            "INGESTION_ALLOWED_IMAGES), secret_reference (outside SECRETS_ALLOWED_REFERENCES).",
            ["rule"],
            registry=r,
        )
        for rule in RULES:
            self.refused.labels(rule)  # present at 0, so an alert can use increase()

    def run_finished(self, kind: str, state: str) -> None:
        """Counts a run that reached the final ``state`` (call once per run)."""
        self.jobs.labels(kind, JOB_STATUS.get(state, state)).inc()
