"""Waiting for the control plane: health endpoints, conditions, and processes that died.

Every wait also checks that no component exited, so a start-up that fails says which process
died and shows the end of its log instead of timing out.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from e2e.controlplane.errors import ControlPlaneError
from e2e.controlplane.processes import Component


def health_urls(server: str, ports: Mapping[str, int]) -> dict[str, tuple[str, bool]]:
    """Each component's health endpoint, and whether it needs the admin client certificate."""
    return {
        "etcd": (f"http://127.0.0.1:{ports['etcd']}/health", False),
        "kube-apiserver": (f"{server}/readyz", True),
        "kube-controller-manager": (f"https://127.0.0.1:{ports['kcm']}/healthz", False),
        "kube-scheduler": (f"https://127.0.0.1:{ports['scheduler']}/healthz", False),
        "kwok": (f"https://127.0.0.1:{ports['kwok']}/healthz", False),
        "workflow-controller": (f"http://127.0.0.1:{ports['argo_metrics']}/metrics", False),
    }


def check_alive(components: Mapping[str, Component], names: Iterable[str] | None = None) -> None:
    for component in components.values():
        if names is not None and component.name not in names:
            continue
        if not component.alive():
            code = component.process.returncode if component.process else None
            raise ControlPlaneError(
                f"{component.name} exited (code {code}) during startup; "
                f"log {component.log_path}:\n{component.log_tail()}"
            )


def wait_until(
    what: str,
    condition: Callable[[], bool],
    *,
    components: Mapping[str, Component],
    timeout: float,
    watch: Sequence[str] = (),
) -> None:
    """Polls ``condition`` (errors count as "not yet") until true or ``timeout``; the error
    names ``what``, the last exception and the log tails of the ``watch`` components."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = 0.05
    while time.monotonic() < deadline:
        check_alive(components)
        try:
            if condition():
                return
        except Exception as e:
            last_error = e
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    tails = "".join(
        f"\n--- {n} ({components[n].log_path}):\n{components[n].log_tail()}"
        for n in watch
        if n in components
    )
    raise ControlPlaneError(f"timed out waiting for {what} (last error: {last_error}){tails}")


def _ssl_context(url: str, pki_dir: Path, client_cert: bool) -> ssl.SSLContext | None:
    if not url.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    context.check_hostname = False
    # The controller-manager and scheduler serve self-signed certificates of their own.
    context.verify_mode = ssl.CERT_REQUIRED if client_cert else ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(pki_dir / "admin.crt", pki_dir / "admin.key")
    return context


def wait_http(
    name: str,
    url: str,
    *,
    components: Mapping[str, Component],
    pki_dir: Path,
    timeout: float,
    client_cert: bool = False,
) -> None:
    """Waits for ``url`` to answer 200, then records how long the component took."""
    context = _ssl_context(url, pki_dir, client_cert)

    def ok() -> bool:
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return False
        except (urllib.error.URLError, OSError):
            return False

    wait_until(f"{name} ({url})", ok, components=components, timeout=timeout, watch=(name,))
    components[name].ready_after = time.monotonic() - components[name].started_at
