"""Prometheus metrics, built on a registry the caller injects (one per runner, one per test).

The first four names match what Collate's dashboards read from its own runner; the rest are
this runner's. Label values are bounded sets (message types, outcomes, states, reasons,
backends); run ids, FQNs and secret ids are never labels.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.connected = Gauge(
            "collate_hybrid_agent_connected",
            "1 while the runner holds an accepted connection to the server.",
            registry=r,
        )
        self.jobs = Counter(
            "collate_hybrid_agent_jobs",
            "Runs launched, by kind of request and launch outcome.",
            ["type", "status"],
            registry=r,
        )
        self.server_response_time = Histogram(
            "collate_hybrid_agent_server_response_time_seconds",
            "Time from receiving a request to sending its reply.",
            ["type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.executor_response_time = Histogram(
            "collate_hybrid_agent_executor_response_time_seconds",
            "Time of executor calls (launch, kill, render).",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
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
            "hybrid_runner_active_runs", "Runs not yet in a final state.", registry=r
        )
        self.run_transitions = Counter(
            "hybrid_runner_run_state_transitions",
            "Run state changes observed, by new state and reason.",
            ["state", "reason"],
            registry=r,
        )
        self.secret_preflight = Counter(
            "hybrid_runner_secret_preflight",
            "Secret reference checks, by backend and result.",
            ["backend", "result"],
            registry=r,
        )
        self.events_dropped = Counter(
            "hybrid_runner_events_dropped",
            "Events dropped because the outbox was full while disconnected.",
            registry=r,
        )
        self.build_info = Info("hybrid_runner_build", "Runner version and executor.", registry=r)
