"""Fixtures of the real-cluster suite: the cluster backend, namespaces, waiting helpers.

``E2E_BACKEND`` chooses the cluster: ``local`` (default) starts the Docker-free control plane
built by ``bash e2e/controlplane/build.sh``. Without that build the suite is skipped, with the
missing files named, unless ``E2E_REQUIRE=1`` (what CI sets): then it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.controlplane.cluster import ControlPlaneError, LocalControlPlane, find_bin_dir

E2E_DIR = Path(__file__).parent
BACKENDS = ("local",)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def backend() -> str:
    return os.environ.get("E2E_BACKEND", "local").strip() or "local"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: real-cluster end-to-end test (run with `uv run pytest e2e`; see docs/testing.md)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str) -> None:
    if _flag("E2E_REQUIRE"):
        pytest.fail(f"E2E_REQUIRE is set and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalControlPlane]:
    """The session's cluster: a local control plane started once for the whole run."""
    name = backend()
    if name not in BACKENDS:
        _unavailable(f"E2E_BACKEND={name} is not supported by this suite yet ({BACKENDS})")
    bin_dir, missing = find_bin_dir()
    if bin_dir is None:
        _unavailable(
            "the local control plane is not built (run `bash e2e/controlplane/build.sh`); "
            "missing: " + ", ".join(missing)
        )
    cp = LocalControlPlane(bin_dir)
    try:
        cp.start()
    except ControlPlaneError as e:
        pytest.fail(f"the local control plane did not start: {e}\n{cp.describe()}", pytrace=False)
    print(f"\nlocal control plane ready in {cp.timings}\n{cp.describe()}")
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def namespace(cluster: LocalControlPlane) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    from kubernetes import client as k8s

    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.create_namespace(name)
    yield name
    api = cluster.api_client()
    try:
        k8s.CoreV1Api(api).delete_namespace(name)
    except k8s.ApiException:
        pass
    finally:
        api.close()


@pytest.fixture
def api(cluster: LocalControlPlane) -> Iterator[Any]:
    """An admin ``kubernetes.client.ApiClient``."""
    client = cluster.api_client()
    yield client
    client.close()


@pytest.fixture
async def deploy(
    cluster: LocalControlPlane,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    """``await deploy(executor)``: the chart's Role in ``namespace``, a kubeconfig bound to it
    (the runner's only identity), a ReferenceServer; start runners with ``start_runner()``."""
    from e2e.runner_kit import USER, Deployment, chart_role_rules, use_kubeconfig

    made: list[Deployment] = []

    async def make(executor: str) -> Deployment:
        kubeconfig = cluster.kubeconfig_for_role(namespace, USER, rules=chart_role_rules(executor))
        use_kubeconfig(monkeypatch, kubeconfig)
        deployment = Deployment(cluster, namespace, executor, kubeconfig, tmp_path / "state")
        await deployment.server.start()
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        await deployment.close()
