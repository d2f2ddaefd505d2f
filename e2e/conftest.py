"""Fixtures of the real-cluster suite: the cluster backend, namespaces, waiting helpers.

``E2E_BACKEND`` chooses the cluster: ``local`` (default) starts the Docker-free control plane
built by ``bash e2e/controlplane/build.sh``. Without that build the suite is skipped, with the
missing files named, unless ``E2E_REQUIRE=1`` (what CI sets): then it fails.

``kind`` (Docker) and ``existing`` (any cluster from KUBECONFIG) install the runner with the
project's Helm chart (``e2e/kind_backend.py``, fixture ``kube``). The scenarios built on the
``cluster`` fixture need kwok's pod-outcome stages and skip on those backends; the smoke scenario
in ``e2e/test_kind_smoke.py`` runs there instead.
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
BACKENDS = ("local", "kind", "existing")
LOCAL_ONLY = "needs kwok pod-outcome stages: local backend only"


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
        _unavailable(f"E2E_BACKEND={name} is not one of {BACKENDS}")
    if name != "local":
        pytest.skip(f"{LOCAL_ONLY} (E2E_BACKEND={name})")
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


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's Helm-installable cluster (``E2E_BACKEND=kind|existing``), a
    ``kind_backend.KubeBackend``: kind cluster created, images built and loaded, Argo installed.

    Skipped on the local backend. Without Docker/kind (or, for ``existing``, a kubeconfig) it is
    skipped with the reason, or fails when ``E2E_REQUIRE=1``. ``E2E_KEEP_CLUSTER=1`` (or
    pytest-kind's ``--keep-cluster``) keeps the kind cluster for debugging; a kept cluster of
    the same name is re-used by the next run."""
    from e2e import kind_backend

    name = backend()
    if name not in ("kind", "existing"):
        pytest.skip(f"runs on E2E_BACKEND=kind|existing only (E2E_BACKEND={name})")
    kubeconfig = request.config.getoption("kubeconfig", default=None)
    if name == "existing":
        try:
            existing = kind_backend.existing_backend(kubeconfig)
        except kind_backend.BackendUnavailable as e:
            _unavailable(str(e))
        yield existing
        return
    session = kind_backend.KindSession(
        kind_bin=request.config.getoption("kind_bin", default=None),
        kubectl_bin=request.config.getoption("kind_kubectl_bin", default=None),
        image=request.config.getoption("kind_image", default=None),
        keep=_flag("E2E_KEEP_CLUSTER") or bool(request.config.getoption("keep_cluster", False)),
        workdir=tmp_path_factory.mktemp("kind"),
    )
    try:
        session.check()
    except kind_backend.BackendUnavailable as e:
        _unavailable(str(e))
    try:
        kb = session.start()
    except Exception as e:
        session.stop()
        pytest.fail(f"the kind backend did not start: {e}", pytrace=False)
    print(f"\nkind backend ready: {kb.timings}; server host {kb.server_host}")
    try:
        yield kb
    finally:
        session.stop()


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
