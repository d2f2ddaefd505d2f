"""runtime.kubeapi.request and .resource: a ``Resource`` builds its paths, and ``KubeApi``
sends through a real ApiClient to the HTTP fake of the API server
(tests/runtime/kube_api_server.py), retrying what may succeed later and mapping the rest once;
and no call of the request path (KubeApi, ResourceApi, WatchStream) imports a client model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from runtime.kubeapi.request import KubeApi, api_message
from runtime.kubeapi.resource import JOBS, PODS, SECRETS, Resource
from runtime.wire.errors import (
    Conflict,
    ExecutorUnavailable,
    Forbidden,
    LaunchFailed,
    NotFound,
    RunnerError,
)
from tests.runtime.kube_api_server import CUT, TOKEN, KubeApiServer, serving

NS = "ingestion"
WORKFLOWS = Resource(group="argoproj.io", version="v1alpha1", plural="workflows")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    yield from serving()


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
    # What the API server answered: the object with the uid and resourceVersion it gave it.
    metadata = {"name": "om-1", "uid": "uid-om-1", "resourceVersion": "100"}
    assert created == {"kind": "Job", "metadata": metadata} and type(created) is dict
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
    with pytest.raises(
        ExecutorUnavailable, match=r"after 4 attempts \(HTTP 503: etcd is down\)"
    ) as caught:
        kube.request("GET", JOBS, NS, "om-1")
    assert "could not get jobs.batch om-1 in namespace ingestion" in caught.value.message
    assert caught.value.retryable is True
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
    replaced = {"metadata": {"name": "cfg", "resourceVersion": "100"}, "data": {}}
    assert server.state.objects[path] == replaced


def test_a_second_create_of_a_name_is_a_conflict(server: KubeApiServer) -> None:
    kube, _ = api(server)
    body = {"metadata": {"name": "om-1"}}
    kube.request("POST", JOBS, NS, body=body)
    with pytest.raises(Conflict, match=r"jobs\.batch om-1 already exists in namespace ingestion"):
        kube.request("POST", JOBS, NS, "om-1", body=body)
    assert len(server.requests("POST")) == 2, "a conflict is not retried"


def test_a_pod_log_is_text_and_query_options_pass_as_given(server: KubeApiServer) -> None:
    server.state.logs[PODS.path(NS, "p", "log")] = "line 1\nline {2}\n"
    kube, _ = api(server)
    query = {"container": "main", "tailLines": 200, "limitBytes": None}
    assert kube.request("GET", PODS, NS, "p", subresource="log", query=query, text=True) == (
        "line 1\nline {2}\n"
    )
    assert server.state.seen[-1].query == {"container": "main", "tailLines": "200"}


def test_no_client_model_is_imported_by_the_calls(server: KubeApiServer) -> None:
    """The point of the path: the generated API classes import ~250 pydantic models (85 MB of
    RSS for CoreV1Api alone). Every kind of call the executors make, in a fresh interpreter."""
    server.state.objects[SECRETS.path(NS, "db")] = {"kind": "Secret", "data": {"value": "cHc="}}
    server.pod_log(NS, "p", "line 1\n")
    pod = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}
    server.state.events[PODS.path(NS)] = [{"type": "ADDED", "object": pod}]
    script = textwrap.dedent(
        f"""
        import json, sys
        from kubernetes import client
        from runtime.executors.kube.resources import ResourceApi
        from runtime.kubeapi.request import KubeApi
        from runtime.kubeapi.resource import JOBS, PODS, SECRETS
        from runtime.kubeapi.watching import WatchStream
        c = client.ApiClient(client.Configuration(host={server.url!r}))
        kube = KubeApi(lambda: c)
        api = ResourceApi(kube, "{NS}")
        api.create(JOBS, {{"metadata": {{"name": "om-1"}}}})
        api.patch(JOBS, "om-1", {{"metadata": {{"labels": {{"a": "b"}}}}}})
        api.replace(JOBS, "om-1", api.get(JOBS, "om-1"))
        listed = list(api.listing(JOBS, lambda obj: obj, label_selector="a=b"))
        api.delete(JOBS, "om-1", "Foreground")
        kube.request("GET", SECRETS, "{NS}", "db")
        kube.request("GET", PODS, "{NS}", "p", subresource="log", text=True)
        events = list(WatchStream(
            kube, PODS, "{NS}", label_selector="a=b", resource_version=None,
            timeout_seconds=5, timeout=5.0,
        ))
        models = sorted(m for m in sys.modules if m.startswith("kubernetes.client.models."))
        print(json.dumps({{"listed": len(listed), "events": len(events), "models": models}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {"listed": 1, "events": 1, "models": []}
    methods = [s.method for s in server.state.seen]
    assert methods == ["POST", "PATCH", "GET", "PUT", "GET", "DELETE", "GET", "GET", "GET"]


def test_every_request_gets_an_explicit_timeout(server: KubeApiServer) -> None:
    server.state.objects[JOBS.path(NS, "om-1")] = {"metadata": {"name": "om-1"}}
    kube, _ = api(server, timeout=7.5)
    kube.request("GET", JOBS, NS, "om-1")
    kube.request("GET", JOBS, NS, "om-1", timeout=2.0)
    assert server.state.timeouts == [7.5, 2.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_a_server_error_is_retried_until_it_succeeds(server: KubeApiServer, status: int) -> None:
    path = JOBS.path(NS, "om-1")
    server.state.objects[path] = {"metadata": {"name": "om-1"}}
    server.fail(path, (status, "try again"), (status, "try again"))
    kube, sleeps = api(server)
    assert kube.request("GET", JOBS, NS, "om-1") == {"metadata": {"name": "om-1"}}
    assert len(server.requests("GET")) == 3
    assert sleeps == [0.2, 0.4]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("failure", ["refused", "read timeout", "cut mid-answer"])
def test_a_transport_failure_is_retried_then_unavailable(
    server: KubeApiServer, failure: str
) -> None:
    sleeps: list[float] = []
    api_client = server.api_client()
    query: dict[str, Any] = {}
    if failure == "refused":
        api_client = client.ApiClient(
            client.Configuration(host=f"http://127.0.0.1:{unused_port()}")
        )
    elif failure == "read timeout":  # the answer starts, then nothing more comes
        query = {"watch": True}
        server.state.watch_hold = 0.5
    else:  # the connection breaks after the headers: a read of the answer fails
        query = {"watch": True}
        server.watch_streams(JOBS.path(NS), [CUT], [CUT], [CUT])
    kube = KubeApi(lambda: api_client, sleep=sleeps.append, attempts=3, timeout=0.02)
    with pytest.raises(ExecutorUnavailable, match="after 3 attempts") as caught:
        kube.request("GET", JOBS, NS, query=query)
    # A GET of a collection is a list, as RBAC names it.
    assert "could not list jobs.batch in namespace ingestion" in caught.value.message
    assert sleeps == [0.2, 0.4]
    assert len(server.requests("GET")) == (0 if failure == "refused" else 3)


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (404, NotFound, "jobs.batch om-x not found in namespace ingestion"),
        (422, LaunchFailed, "spec.template: Invalid value"),
        (400, LaunchFailed, "the API server refused to update jobs.batch om-x in namespace"),
        (401, Forbidden, "rejected the runner's credentials"),
    ],
)
def test_an_error_that_will_not_pass_is_mapped_without_a_retry(
    server: KubeApiServer, status: int, error: type[RunnerError], text: str
) -> None:
    server.state.errors[JOBS.path(NS, "om-x")] = (status, "spec.template: Invalid value")
    kube, sleeps = api(server)
    with pytest.raises(error) as caught:
        kube.request("PUT", JOBS, NS, "om-x", body={"metadata": {"name": "om-x"}})
    assert text in caught.value.message
    assert len(server.requests("PUT")) == 1 and sleeps == []


def test_an_error_answer_is_the_librarys_exception_with_the_status_message(
    server: KubeApiServer,
) -> None:
    """``send`` is one attempt: the library's exception, as the API server answered."""
    server.state.errors[JOBS.path(NS, "om-9")] = (403, 'jobs.batch "om-9" is forbidden: no rule')
    kube, _ = api(server)
    with pytest.raises(ApiException) as caught:
        kube.send("GET", JOBS.path(NS, "om-9"))
    assert caught.value.status == 403
    assert api_message(caught.value) == 'jobs.batch "om-9" is forbidden: no rule'
    assert len(server.requests("GET")) == 1


def test_api_message_falls_back_to_the_body_then_the_reason() -> None:
    exc = ApiException(status=500, reason="Internal Server Error")
    assert api_message(exc) == "Internal Server Error"
    exc.body = "plain text body"
    assert api_message(exc) == "plain text body"


def test_recovery_is_announced_once_per_outage_and_a_refusal_is_an_answer(
    server: KubeApiServer,
) -> None:
    path = JOBS.path(NS, "om-1")
    server.state.objects[path] = {"metadata": {"name": "om-1"}}
    heard: list[str] = []
    kube, _ = api(server, attempts=2)
    kube.on_recovery(lambda: heard.append("back"))
    kube.request("GET", JOBS, NS, "om-1")
    assert heard == [], "no outage yet: nothing to announce"
    server.fail(path, (503, "down"), (503, "down"), (403, "forbidden"))
    with pytest.raises(ExecutorUnavailable):
        kube.request("GET", JOBS, NS, "om-1")
    with pytest.raises(Forbidden):  # the API server is up again: it refused
        kube.request("GET", JOBS, NS, "om-1")
    assert heard == ["back"]
    kube.request("GET", JOBS, NS, "om-1")
    assert heard == ["back"], "announced once per outage"


def test_objects_are_addressed_by_their_paths_with_their_options(server: KubeApiServer) -> None:
    kube, _ = api(server)
    workflow = {"kind": "Workflow", "metadata": {"name": "om-2"}}
    kube.request("POST", WORKFLOWS, NS, "om-2", body=workflow)
    got = kube.request("GET", WORKFLOWS, NS, "om-2")
    assert got["kind"] == "Workflow" and got["metadata"]["name"] == "om-2"
    assert (
        server.state.seen[-1].path == f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows/om-2"
    )
    patch = {"metadata": {"annotations": {"why": "deadline"}}}
    merge = "application/merge-patch+json"
    kube.request("PATCH", WORKFLOWS, NS, "om-2", body=patch, content_type=merge)
    patched = server.state.seen[-1]
    assert (patched.method, patched.path) == ("PATCH", WORKFLOWS.path(NS, "om-2"))
    assert patched.headers["content-type"] == merge
    assert kube.request("GET", WORKFLOWS, NS, "om-2")["metadata"]["annotations"] == {
        "why": "deadline"
    }
    kube.request("DELETE", WORKFLOWS, NS, "om-2", query={"propagationPolicy": "Foreground"})
    deleted = server.state.seen[-1]
    assert (deleted.method, deleted.path) == ("DELETE", WORKFLOWS.path(NS, "om-2"))
    assert deleted.query == {"propagationPolicy": "Foreground"}
    assert WORKFLOWS.path(NS, "om-2") not in server.state.objects
