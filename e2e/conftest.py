"""Fixtures of the real-cluster suite: its two tiers, namespaces, waiting helpers.

* The **local control plane** (fixture ``cluster``; tests in ``e2e/controlplane_tier/`` and
  ``e2e/resolver_tier/``): the Docker-free control plane built by
  ``bash e2e/controlplane/build.sh``, kwok's simulated pods; scale, apiserver faults, RBAC.
* The **kind tier** (fixture ``kube``, marker ``kind``; tests in ``e2e/kind_tier/``): a kind cluster
  with real pods, the runner installed with the project's Helm chart (``e2e/kind/``), built offline
  by ``bash e2e/kind/build.sh`` or, on a machine with Docker, kind, kubectl, helm and a registry,
  the plain online path. ``E2E_BACKEND=existing`` points the kind tier's tests at any cluster from
  KUBECONFIG instead; ``E2E_BACKEND=local`` skips the kind tier, ``E2E_BACKEND=kind`` the local one.

Both run in one session: the kind tier's tests are moved to the end and the local control
plane is stopped before the first of them starts (two clusters at once would share 2 cores).
A tier that is not built is skipped with what is missing named, unless ``E2E_REQUIRE=1`` (what
CI sets): then it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.controlplane.cluster import ControlPlaneError, LocalControlPlane, find_bin_dir

E2E_DIR = Path(__file__).parent
BACKENDS = ("all", "local", "kind", "existing")
LOCAL_ONLY = "needs kwok pod-outcome stages: local control plane only"
_running: dict[str, LocalControlPlane] = {}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def backend() -> str:
    return os.environ.get("E2E_BACKEND", "all").strip() or "all"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: real-cluster end-to-end test (run with `uv run pytest e2e`; see docs/testing.md)",
    )
    config.addinivalue_line("markers", "kind: the kind tier (real pods; fixture `kube`)")


def _is_kind(item: pytest.Item) -> bool:
    return "kube" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
        if _is_kind(item):
            item.add_marker(pytest.mark.kind)
    # The kind tier last (stable: the order within each tier is kept).
    items.sort(key=_is_kind)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Stops the local control plane once the kind tier is next (its CPU is needed there),
    after the finishing test's own fixtures are torn down: they may still call its API."""
    try:
        return (yield)
    finally:
        if nextitem is not None and _is_kind(nextitem) and "local" in _running:
            _running.pop("local").stop()


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
    if name not in ("all", "local"):
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
    _running["local"] = cp
    try:
        yield cp
    finally:
        _running.pop("local", None)
        cp.stop()


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's Helm-installable cluster, an ``e2e.kind.backend.KubeBackend``: the kind
    cluster created, the images built and loaded, Argo installed (``e2e/kind/cluster.py``); or,
    with ``E2E_BACKEND=existing``, any cluster from KUBECONFIG.

    Skipped (or failed, with ``E2E_REQUIRE=1``) with the reason when the tier is not available.
    ``E2E_KEEP_CLUSTER=1`` (or pytest-kind's ``--keep-cluster``) keeps the kind cluster and the
    private engine for the next run, which re-uses them."""
    from e2e.kind import cluster as kind

    name = backend()
    if name not in BACKENDS:
        _unavailable(f"E2E_BACKEND={name} is not one of {BACKENDS}")
    if name == "local":
        pytest.skip("the kind tier is off (E2E_BACKEND=local)")
    if name == "existing":
        try:
            yield kind.existing_backend(request.config.getoption("kubeconfig", default=None))
        except kind.BackendUnavailable as e:
            _unavailable(str(e))
        return
    tools = None if _flag("E2E_KIND_ONLINE") else kind.offline_toolset()
    if tools is None:
        try:
            tools = kind.online_toolset(
                request.config.getoption("kind_bin", default=None),
                request.config.getoption("kind_kubectl_bin", default=None),
            )
        except kind.BackendUnavailable as e:
            _unavailable(str(e))
    keep = _flag("E2E_KEEP_CLUSTER") or bool(request.config.getoption("keep_cluster", False))
    tier = kind.KindTier(tools, keep=keep, workdir=tmp_path_factory.mktemp("kind"))
    try:
        kb = tier.start()
    except Exception as e:
        tier.stop()
        pytest.fail(f"the kind tier did not start: {e}", pytrace=False)
    print(f"\nkind tier ready: {kb.timings}; server host {kb.server_host}")
    try:
        yield kb
    finally:
        tier.stop()


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
