"""Paged, raw, slimmed lists: what a re-adopting runner holds of thousands of objects.

``Listing`` is driven by a page function here; ``ResourceApi.listing`` by the HTTP fake of the
API server (tests/runtime/kube_api_server.py) through a real ApiClient."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest

from runtime.executors.kube.diagnostics import PodView
from runtime.executors.kube.jobs import job_manifest, job_state
from runtime.executors.kube.listing import Listing, slim_pod, slim_workload
from runtime.executors.kube.pod import RUN_ID_ANNOTATION
from runtime.executors.kube.resources import ResourceApi
from runtime.kubeapi.request import KubeApi
from runtime.kubeapi.resource import JOBS
from runtime.wire.errors import NotFound
from tests.runtime.executors.k8s_support import NAMESPACE, make_settings, make_spec
from tests.runtime.kube_api_server import KubeApiServer


class PagedServer:
    """An API server's paged list over ``objects``: each call answers one page as its JSON
    dict, a fresh one (as decoded from the wire)."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **query: Any) -> dict[str, Any]:
        self.calls.append(query)
        start = int(query.get("continue") or 0)
        end = start + query["limit"]
        metadata: dict[str, Any] = {"resourceVersion": "777"}
        if end < len(self.objects):
            metadata["continue"] = str(end)
        return copy.deepcopy({"metadata": metadata, "items": self.objects[start:end]})


def a_job(i: int) -> dict[str, Any]:
    job = job_manifest(make_settings(), make_spec(f"run-{i:05d}"))
    job["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "fieldsV1": {}}]
    job["status"] = {"active": 1, "startTime": "2026-11-26T10:00:00Z"}
    return job


def test_a_list_is_read_in_pages() -> None:
    server = PagedServer([a_job(i) for i in range(1203)])
    listing = Listing(server, slim_workload, page=500)
    items, version = list(listing), listing.resource_version
    assert len(items) == 1203
    assert len({i["metadata"]["name"] for i in items}) == 1203
    assert version == "777"
    assert [c.get("continue") for c in server.calls] == [None, "500", "1000"]
    assert all(c["limit"] == 500 for c in server.calls)


def small_job(i: int) -> dict[str, Any]:
    """A Job with what slimming drops: its pod template and its managed fields."""
    return {
        "kind": "Job",
        "metadata": {"name": f"om-{i:04d}", "managedFields": [{"manager": "kubectl"}]},
        "spec": {"suspend": False, "template": {"spec": {"containers": [{"name": "main"}]}}},
    }


def test_a_resource_listing_sends_selector_limit_and_continue_and_releases_connections() -> None:
    server = KubeApiServer()
    try:
        for i in range(1001):  # three pages of LIST_PAGE (500)
            server.put(JOBS.path(NAMESPACE, f"om-{i:04d}"), small_job(i))
        api_client = server.api_client()
        resources = ResourceApi(KubeApi(lambda: api_client), NAMESPACE)
        listing = resources.listing(JOBS, slim_workload, label_selector="agent=a,app=x")
        items = list(listing)
        assert [i["metadata"]["name"] for i in items] == [f"om-{i:04d}" for i in range(1001)]
        assert items[0]["spec"] == {"suspend": False}
        assert "managedFields" not in items[0]["metadata"]
        assert listing.resource_version == "102"  # the last page's
        selector = {"labelSelector": "agent=a,app=x", "limit": "500"}
        assert [(s.path, s.query) for s in server.list_requests()] == [
            (JOBS.path(NAMESPACE), selector),
            (JOBS.path(NAMESPACE), {**selector, "continue": "500"}),
            (JOBS.path(NAMESPACE), {**selector, "continue": "1000"}),
        ]
        pool = api_client.rest_client.pool_manager.connection_from_url(server.url)
        assert pool.pool.qsize() == pool.pool.maxsize, "every connection is back in the pool"
    finally:
        # close() waits out the server loop's 0.5 s poll: off the test's clock.
        threading.Thread(target=server.close, daemon=True).start()


def test_a_slim_workload_keeps_what_its_state_is_read_from_and_drops_the_templates() -> None:
    job = a_job(1)
    slim = slim_workload(job)
    assert job_state(slim) == job_state(job)
    assert "template" not in slim["spec"] and "managedFields" not in slim["metadata"]
    assert slim["metadata"]["labels"] == job["metadata"]["labels"]
    assert slim["metadata"]["annotations"] == job["metadata"]["annotations"]
    assert len(json.dumps(slim)) < len(json.dumps(job)) / 2


def test_a_slim_workflow_keeps_its_shutdown_and_nodes_but_not_its_stored_templates() -> None:
    workflow: dict[str, Any] = {
        "metadata": {"name": "wf"},
        "spec": {"shutdown": "Terminate", "templates": [{"name": "main"}]},
        "status": {
            "phase": "Failed",
            "nodes": {"n": {"type": "Pod", "message": "deadline exceeded"}},
            "storedTemplates": {"main": {"container": {"image": "x"}}},
        },
    }
    slim: Any = slim_workload(workflow)
    assert slim["spec"] == {"shutdown": "Terminate"}
    assert slim["status"]["nodes"] == workflow["status"]["nodes"]
    assert "storedTemplates" not in slim["status"]


def test_a_slim_pod_is_diagnosed_like_the_pod() -> None:
    pod = {
        "metadata": {"name": "p", "annotations": {RUN_ID_ANNOTATION: "r1"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "env": [{"name": "config", "value": "x" * 10_000}],
                    "resources": {"limits": {"memory": "512Mi"}},
                }
            ]
        },
        "status": {"phase": "Running", "containerStatuses": [{"name": "main", "state": {}}]},
    }
    slim = slim_pod(pod)
    assert PodView.from_pod(slim) == PodView.from_pod(pod)
    assert PodView.from_pod(slim).run_id == "r1"
    assert "env" not in slim["spec"]["containers"][0]


def test_a_slim_pod_of_a_scheduled_run_still_names_its_run_by_its_owner() -> None:
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "omsched-x-1", "uid": "job-uid"}
    pod = {
        "metadata": {
            "name": "omsched-x-1-abcde",
            "annotations": {"hybrid-runner.io/schedule": "omsched-x"},
            "ownerReferences": [owner],
            "managedFields": [{"manager": "kube-controller-manager"}],
        },
        "status": {"phase": "Running"},
    }
    assert PodView.from_pod(slim_pod(pod)).run_id == "job-uid"


def test_a_listing_asks_for_the_next_page_only_when_the_last_is_read() -> None:
    server = PagedServer([a_job(i) for i in range(250)])
    listing = Listing(server, slim_workload, page=100)
    assert server.calls == []  # nothing is asked for before the listing is read
    read = iter(listing)
    names = [next(read)["metadata"]["name"] for _ in range(100)]
    assert len(server.calls) == 1 and listing.resource_version is None
    names.append(next(read)["metadata"]["name"])
    assert len(server.calls) == 2
    names += [obj["metadata"]["name"] for obj in listing]  # a second loop goes on
    assert len(server.calls) == 3 and len(set(names)) == 250
    assert (listing.complete, listing.resource_version) == (True, "777")  # type: ignore[comparison-overlap]


def test_a_page_that_fails_mid_listing_raises_to_the_reader() -> None:
    server = PagedServer([a_job(i) for i in range(150)])

    def failing(**query: Any) -> dict[str, Any]:
        if query.get("continue"):
            raise NotFound("continue token expired")
        return server(**query)

    listing = Listing(failing, slim_workload, page=100)
    read: list[dict[str, Any]] = []
    with pytest.raises(NotFound):
        read.extend(listing)
    assert len(read) == 100 and not listing.complete and listing.resource_version is None
