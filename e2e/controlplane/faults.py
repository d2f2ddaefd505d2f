"""Fault injection: stopping, starting and restarting single components of a running plane.

A mixin of ``LocalControlPlane`` (``cluster.py``): a component comes back with the command
``start()`` gave it (``components.COMMANDS``), so the same port and data.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from e2e.controlplane import components
from e2e.controlplane.health import health_urls
from e2e.controlplane.processes import Component
from e2e.controlplane.processes import stop as stop_process


class ComponentControl:
    """Stops and (re)starts the processes of a started ``LocalControlPlane``."""

    components: dict[str, Component]
    ports: dict[str, int]
    server: str
    _launch: Callable[[str], None]
    _wait_healthy: Callable[[str], None]

    def health_url(self, name: str) -> tuple[str, bool]:
        """The health endpoint ``start()`` waits on for a component, and whether it needs the
        admin client certificate."""
        return health_urls(self.server, self.ports)[name]

    def stop_component(self, name: str, *, kill: bool = False, timeout: float = 10.0) -> float:
        """Stops one component (SIGTERM, or SIGKILL with ``kill``; SIGKILL after ``timeout``).

        For fault tests: ``stop_component("kube-apiserver")`` makes the API unavailable while
        etcd keeps the data. Returns the seconds it took. ``start_component`` brings it back
        with the same arguments, port and data.
        """
        component = self.components[name]
        t0 = time.monotonic()
        stop_process(component, kill=kill, timeout=timeout)
        return time.monotonic() - t0

    def start_component(self, name: str, *, wait: bool = True) -> float:
        """(Re)starts a stopped component as ``start()`` did and waits for its health endpoint.

        Returns the seconds until healthy. A component still running is left alone.
        """
        component = self.components.get(name)
        if component is not None and component.alive():
            return 0.0
        t0 = time.monotonic()
        self._launch(name)
        if wait:
            self._wait_healthy(name)
        return time.monotonic() - t0

    def restart_controllers(self) -> float:
        """Restarts every component that watches the apiserver (the controllers, the scheduler,
        kwok), so that a test that took the apiserver away leaves none of them waiting out a
        client-go backoff for the next test. Returns the seconds it took."""
        t0 = time.monotonic()
        for name in ("kube-controller-manager", "kube-scheduler", "kwok", "workflow-controller"):
            if name in self.components:
                self.stop_component(name, kill=True)
                self.start_component(name)
        return time.monotonic() - t0

    def restart_dead_components(self) -> list[str]:
        """Starts again every component that exited (e.g. a controller that gave up while the
        apiserver was down); returns their names."""
        dead = [c.name for c in self.components.values() if not c.alive()]
        for name in sorted(dead, key=components.ORDER.index):
            self.start_component(name)
        return dead
