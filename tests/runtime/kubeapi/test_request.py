"""runtime.kubeapi.request and .resource: a ``Resource`` builds its paths, and ``KubeApi``
sends through a real ApiClient to the HTTP fake of the API server
(tests/runtime/kube_api_server.py), retrying what may succeed later and mapping the rest once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import JOBS, PODS, SECRETS, Resource
from runtime.wire.errors import Conflict, ExecutorUnavailable, Forbidden, NotFound
from tests.runtime.kube_api_server import TOKEN, KubeApiServer

NS = "ingestion"
WORKFLOWS = Resource(group="argoproj.io", version="v1alpha1", plural="workflows")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    made = KubeApiServer()
    yield made
    made.close()


def api(server: KubeApiServer, **options: Any) -> tuple[KubeApi, list[float]]:
    sleeps: list[float] = []
    return KubeApi(server.api_client, sleep=sleeps.append, **options), sleeps


def test_a_resource_builds_its_collection_item_and_subresource_paths() -> None:
    assert JOBS.path(NS) == f"/apis/batch/v1/namespaces/{NS}/jobs"
    assert JOBS.path(NS, "om-1") == f"/apis/batch/v1/namespaces/{NS}/jobs/om-1"
    assert PODS.path(NS, "p", "log") == f"/api/v1/namespaces/{NS}/pods/p/log"
    assert WORKFLOWS.path(NS) == f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"
    assert (JOBS.rbac, SECRETS.rbac, WORKFLOWS.rbac) == (
        "jobs.batch",
        "secrets",
        "workflows.argoproj.io",
    )
    assert (JOBS.api_version, SECRETS.api_version) == ("batch/v1", "v1")
    nodes = Resource(group="", version="v1", plural="nodes", namespaced=False)
    assert nodes.path(name="n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError, match="namespaced"):
        JOBS.path()


def test_a_request_posts_json_with_the_bearer_token_and_answers_a_dict(
    server: KubeApiServer,
) -> None:
    kube, _ = api(server)
    body = {"kind": "Job", "metadata": {"name": "om-1"}}
    created = kube.request("POST", JOBS, NS, body=body)
    assert created == body and type(created) is dict
    (seen,) = server.requests("POST", "/jobs")
    assert (seen.path, seen.body) == (JOBS.path(NS), body)
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"


def test_a_403_names_the_verb_the_resource_and_the_namespace(server: KubeApiServer) -> None:
    server.state.errors[JOBS.path(NS)] = (403, "no rule")
    kube, sleeps = api(server)
    with pytest.raises(Forbidden) as caught:
        kube.request("POST", JOBS, NS, body={"metadata": {"name": "om-1"}})
    assert caught.value.message == (
        "the runner's Role lacks create on jobs.batch in namespace ingestion (API server: no rule)"
    )
    assert sleeps == [] and len(server.requests("POST")) == 1


def test_a_404_of_a_subresource_names_it(server: KubeApiServer) -> None:
    server.state.errors[PODS.path(NS, "p", "log")] = (404, 'pods "p" not found')
    kube, _ = api(server)
    with pytest.raises(NotFound, match="pods/log p not found in namespace ingestion"):
        kube.request("GET", PODS, NS, "p", subresource="log", text=True)


def test_a_503_is_retried_with_backoff_then_given_up(server: KubeApiServer) -> None:
    server.state.errors[JOBS.path(NS, "om-1")] = (503, "etcd is down")
    kube, sleeps = api(server, attempts=4, backoff=0.2, max_backoff=0.5)
    with pytest.raises(ExecutorUnavailable, match=r"after 4 attempts \(HTTP 503: etcd is down\)"):
        kube.request("GET", JOBS, NS, "om-1")
    assert sleeps == [0.2, 0.4, 0.5]
    assert len(server.requests("GET")) == 4
    del server.state.errors[JOBS.path(NS, "om-1")]
    recovered: list[bool] = []
    kube.on_recovery(lambda: recovered.append(True))
    server.state.objects[JOBS.path(NS, "om-1")] = {"metadata": {"name": "om-1"}}
    assert kube.request("GET", JOBS, NS, "om-1")["metadata"]["name"] == "om-1"
    assert recovered == [True]


def test_a_transient_429_is_retried_and_a_replace_is_a_put(server: KubeApiServer) -> None:
    path = SECRETS.path(NS, "cfg")
    server.state.objects[path] = {"metadata": {"name": "cfg"}, "data": {"old": "eA=="}}
    server.state.failures[path] = [(429, "slow down")]
    kube, sleeps = api(server)
    kube.request("PUT", SECRETS, NS, "cfg", body={"metadata": {"name": "cfg"}, "data": {}})
    assert sleeps == [0.2]
    assert [s.method for s in server.state.seen] == ["PUT", "PUT"]
    assert server.state.objects[path] == {"metadata": {"name": "cfg"}, "data": {}}


def test_a_second_create_of_a_name_is_a_conflict(server: KubeApiServer) -> None:
    kube, _ = api(server)
    body = {"metadata": {"name": "om-1"}}
    kube.request("POST", JOBS, NS, body=body)
    with pytest.raises(Conflict, match=r"jobs\.batch om-1 already exists in namespace ingestion"):
        kube.request("POST", JOBS, NS, "om-1", body=body)


def test_a_pod_log_is_text_and_query_options_pass_as_given(server: KubeApiServer) -> None:
    server.state.logs[PODS.path(NS, "p", "log")] = "line 1\nline {2}\n"
    kube, _ = api(server)
    query = {"container": "main", "tailLines": 200, "limitBytes": None}
    assert kube.request("GET", PODS, NS, "p", subresource="log", query=query, text=True) == (
        "line 1\nline {2}\n"
    )
    assert server.state.seen[-1].query == {"container": "main", "tailLines": "200"}


def test_no_client_model_is_imported_by_a_request(server: KubeApiServer) -> None:
    """The point of the path: the generated API classes import ~250 pydantic models."""
    server.state.objects[SECRETS.path(NS, "db")] = {"kind": "Secret", "data": {"value": "cHc="}}
    script = textwrap.dedent(
        f"""
        import sys
        from kubernetes import client
        from runtime.kubeapi.request import KubeApi
        from runtime.kubeapi.resource import JOBS, SECRETS
        c = client.ApiClient(client.Configuration(host={server.url!r}))
        kube = KubeApi(lambda: c)
        kube.request("POST", JOBS, "{NS}", body={{"metadata": {{"name": "om-1"}}}})
        kube.request("GET", JOBS, "{NS}", query={{"labelSelector": "a=b"}}, verb="list")
        kube.request("GET", SECRETS, "{NS}", "db")
        print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.models.")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.replace("'", '"')) == []
