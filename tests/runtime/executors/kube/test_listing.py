"""Paged, raw, slimmed lists: what a re-adopting runner holds of thousands of objects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.executors.kube.diagnostics import PodView
from runtime.executors.kube.jobs import job_manifest, job_state
from runtime.executors.kube.listing import Listing, page_of, slim_pod, slim_workload
from runtime.executors.kube.pod import RUN_ID_ANNOTATION
from runtime.wire.errors import NotFound
from tests.runtime.executors.k8s_support import make_settings, make_spec


class RawResponse:
    """What the client returns with ``_preload_content=False``: the body, unparsed."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()
        self.released = False

    def release_conn(self) -> None:
        self.released = True


class PagedServer:
    """An API server's paged list over ``objects``, answering raw bytes."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.calls: list[dict[str, Any]] = []
        self.responses: list[RawResponse] = []

    def __call__(self, **kwargs: Any) -> RawResponse:
        self.calls.append(kwargs)
        start = int(kwargs.get("_continue") or 0)
        end = start + kwargs["limit"]
        metadata: dict[str, Any] = {"resourceVersion": "777"}
        if end < len(self.objects):
            metadata["continue"] = str(end)
        response = RawResponse({"metadata": metadata, "items": self.objects[start:end]})
        self.responses.append(response)
        return response


def a_job(i: int) -> dict[str, Any]:
    job = job_manifest(make_settings(), make_spec(f"run-{i:05d}"))
    job["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "fieldsV1": {}}]
    job["status"] = {"active": 1, "startTime": "2026-11-26T10:00:00Z"}
    return job


def test_a_list_is_read_in_pages_of_raw_json_and_every_connection_is_released() -> None:
    server = PagedServer([a_job(i) for i in range(1203)])
    listing = Listing(server, slim_workload, page=500)
    items, version = list(listing), listing.resource_version
    assert len(items) == 1203
    assert len({i["metadata"]["name"] for i in items}) == 1203
    assert version == "777"
    assert [c.get("_continue") for c in server.calls] == [None, "500", "1000"]
    assert all(c["_preload_content"] is False and c["limit"] == 500 for c in server.calls)
    assert all(r.released for r in server.responses)


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


def test_a_model_or_dict_response_still_reads() -> None:
    assert page_of({"items": [], "metadata": {"resourceVersion": "1"}})["metadata"] == {
        "resourceVersion": "1"
    }


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

    def failing(**kwargs: Any) -> RawResponse:
        if kwargs.get("_continue"):
            raise NotFound("continue token expired")
        return server(**kwargs)

    listing = Listing(failing, slim_workload, page=100)
    read: list[dict[str, Any]] = []
    with pytest.raises(NotFound):
        read.extend(listing)
    assert len(read) == 100 and not listing.complete and listing.resource_version is None
