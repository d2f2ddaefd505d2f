"""runtime.kubeapi.rest: the runner's Kubernetes calls as plain REST, through a real ApiClient and a
real HTTP server on 127.0.0.1 (tests/runtime/kube_api_server.py); the executors' tiers run the
same calls against a real kube-apiserver (e2e/controlplane, kind)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from runtime.executors.kube.client import KubeCaller, Op
from runtime.executors.kube.listing import Listing
from runtime.executors.kube.watch import RawWatch
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import SECRETS
from runtime.kubeapi.rest import BatchV1, CoreV1, CustomObjects, query_name
from runtime.wire.errors import NotFound
from tests.runtime.kube_api_server import TOKEN, KubeApiServer

NS = "ingestion"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    made = KubeApiServer()
    yield made
    made.close()


def job(name: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize(
    ("argument", "name"),
    [
        ("label_selector", "labelSelector"),
        ("_continue", "continue"),
        ("resource_version", "resourceVersion"),
        ("allow_watch_bookmarks", "allowWatchBookmarks"),
        ("limit", "limit"),
        ("propagation_policy", "propagationPolicy"),
    ],
)
def test_keywords_become_the_api_servers_query_names(argument: str, name: str) -> None:
    assert query_name(argument) == name


def test_create_posts_json_with_the_bearer_token_and_answers_a_dict(server: KubeApiServer) -> None:
    created = BatchV1(server.api_client()).create_namespaced_job(namespace=NS, body=job("om-1"))
    assert created == job("om-1")
    assert type(created) is dict  # not a client model
    seen = server.state.seen[-1]
    assert (seen.method, seen.path, seen.body) == ("POST", JOBS, job("om-1"))
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"


def test_read_patch_delete_address_the_object_and_send_options(server: KubeApiServer) -> None:
    api = BatchV1(server.api_client())
    api.create_namespaced_job(NS, job("om-1"))
    patch = {"metadata": {"annotations": {"why": "deadline"}}}
    api.patch_namespaced_job(
        name="om-1", namespace=NS, body=patch, _content_type="application/merge-patch+json"
    )
    assert api.read_namespaced_job("om-1", NS)["metadata"]["annotations"] == {"why": "deadline"}
    patched = server.state.seen[-2]
    assert (patched.method, patched.path) == ("PATCH", f"{JOBS}/om-1")
    assert patched.headers["content-type"] == "application/merge-patch+json"
    api.delete_namespaced_job(name="om-1", namespace=NS, propagation_policy="Foreground")
    deleted = server.state.seen[-1]
    assert (deleted.method, deleted.path) == ("DELETE", f"{JOBS}/om-1")
    assert deleted.query == {"propagationPolicy": "Foreground"}
    assert f"{JOBS}/om-1" not in server.state.objects


def test_a_paged_list_sends_selector_limit_and_continue(server: KubeApiServer) -> None:
    api = BatchV1(server.api_client())
    for n in range(5):
        api.create_namespaced_job(NS, job(f"om-{n}", agent="a"))

    def call(**kwargs: object) -> object:
        return api.list_namespaced_job(NS, label_selector="agent=a,app=x", **kwargs)

    listing = Listing(call, lambda obj: obj, page=2)
    items, version = list(listing), listing.resource_version
    assert [i["metadata"]["name"] for i in items] == [f"om-{n}" for n in range(5)]
    assert version == "42"
    lists = [s.query for s in server.state.seen if s.method == "GET"]
    assert lists[0] == {"labelSelector": "agent=a,app=x", "limit": "2"}
    assert lists[1]["continue"] == "2" and lists[2]["continue"] == "4"


def test_custom_objects_live_under_their_group_version_and_plural(server: KubeApiServer) -> None:
    api = CustomObjects(server.api_client())
    body = {"kind": "Workflow", "metadata": {"name": "om-2"}}
    api.create_namespaced_custom_object("argoproj.io", "v1alpha1", NS, "workflows", body)
    got = api.get_namespaced_custom_object(
        group="argoproj.io", version="v1alpha1", namespace=NS, plural="workflows", name="om-2"
    )
    assert got == body
    assert (
        server.state.seen[-1].path == f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows/om-2"
    )


def test_an_error_answer_is_the_librarys_exception_with_the_status_message(
    server: KubeApiServer,
) -> None:
    server.state.errors[f"{JOBS}/om-9"] = (403, 'jobs.batch "om-9" is forbidden: no rule')
    with pytest.raises(ApiException) as caught:
        BatchV1(server.api_client()).read_namespaced_job("om-9", NS)
    assert caught.value.status == 403
    assert "is forbidden: no rule" in str(caught.value.body)


def test_the_caller_maps_a_404_to_not_found_naming_the_object(server: KubeApiServer) -> None:
    api = BatchV1(server.api_client())
    caller = KubeCaller(attempts=1)
    with pytest.raises(NotFound) as caught:
        caller(
            Op("get", "jobs.batch", NS, "om-7"), api.read_namespaced_job, name="om-7", namespace=NS
        )
    assert "jobs.batch om-7 not found in namespace ingestion" in caught.value.message


def test_a_watch_streams_events_as_dicts(server: KubeApiServer) -> None:
    pods = f"/api/v1/namespaces/{NS}/pods"
    pod = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}
    server.state.events[pods] = [
        {"type": "ADDED", "object": pod},
        {"type": "DELETED", "object": pod},
    ]
    stream = RawWatch().stream(  # type: ignore[no-untyped-call]
        CoreV1(server.api_client()).list_namespaced_pod,
        NS,
        label_selector="agent=a",
        resource_version="5",
        timeout_seconds=30,
    )
    events = [(e["type"], e["raw_object"]) for e in stream]
    assert events == [("ADDED", pod), ("DELETED", pod)]
    query = server.state.seen[-1].query
    assert query["watch"] == "true" and query["resourceVersion"] == "5"


def test_no_client_model_is_imported_by_the_calls(server: KubeApiServer) -> None:
    """The point of the module: the generated API classes import ~250 pydantic models."""
    script = textwrap.dedent(
        f"""
        import sys
        from kubernetes import client
        from runtime.kubeapi.rest import BatchV1, CoreV1
        c = client.ApiClient(client.Configuration(host={server.url!r}))
        BatchV1(c).create_namespaced_job("{NS}", {{"metadata": {{"name": "om-1"}}}})
        BatchV1(c).list_namespaced_job("{NS}", label_selector="a=b")
        CoreV1(c).list_namespaced_pod("{NS}", label_selector="a=b")
        print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.models.")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.replace("'", '"')) == []


class ProxyTrap:
    """A listener that only counts who connects to it: a proxy nothing should use."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._sock.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        self._sock.close()


@pytest.mark.parametrize("loader", ["executor", "secret store"])
def test_the_kubernetes_api_never_goes_through_the_proxy(
    server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: str
) -> None:
    """The runner exports HTTPS_PROXY for the cloud SDKs; the kubernetes library reads it too
    (``Configuration()`` calls ``getproxies()``), and the API server is in the cluster."""
    from kubernetes import config as k8s_config

    from runtime.executors.kube.client import load_api_client
    from runtime.secrets.kubernetes import _load_api_client

    trap = ProxyTrap()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server.url}"}}}}]
users: [{{name: u, user: {{token: {TOKEN}}}}}]
contexts: [{{name: ctx, context: {{cluster: c, user: u}}}}]
current-context: ctx
"""
    )
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The library reads KUBECONFIG when it is imported; the default location is its constant.
    monkeypatch.setattr(
        "kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)
    )
    monkeypatch.setattr(
        k8s_config,
        "load_incluster_config",
        lambda **_: (_ for _ in ()).throw(k8s_config.ConfigException("not in a pod")),
    )
    client = load_api_client() if loader == "executor" else _load_api_client()
    path = f"/api/v1/namespaces/{NS}/secrets/db"
    server.state.objects[path] = {"kind": "Secret", "data": {"value": "cHc="}}
    try:
        assert client.configuration.proxy is None
        assert KubeApi(lambda: client).request("GET", SECRETS, NS, "db")["data"] == {
            "value": "cHc="
        }
    finally:
        trap.close()
    assert trap.connections == 0
    assert server.state.seen[-1].path == path
