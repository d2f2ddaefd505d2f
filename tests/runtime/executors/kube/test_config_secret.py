"""The run's config Secret on both Kubernetes executors: the workload is created suspended, the
Secret made with the workload's uid as owner and the config (the bot's token) in it, then the
workload resumed; a re-sent launch replaces it; a failure rolls back what the launch created;
a workload left suspended by a stopped runner is resumed when it is re-adopted. Asserted on the
requests the HTTP fake of the API server (kube_api_server.py) recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.executors.base import LaunchSpec
from runtime.kubeapi.resource import SECRETS
from runtime.wire.errors import Forbidden
from tests.runtime.executors.k8s_harness import Harness
from tests.runtime.executors.k8s_support import make_spec

TOKEN = "eyJ-canary-bot-token"


def spec_with_token() -> LaunchSpec:
    return make_spec(config={"workflowConfig": {"securityConfig": {"jwtToken": TOKEN}}})


def resume_calls(h: Harness) -> list[dict[str, Any]]:
    """The bodies of the patches of the workloads (a resume is the only one here)."""
    return [seen.body for seen in h.patches()]


def test_launch_creates_suspended_then_the_owned_secret_then_resumes(h: Harness) -> None:
    spec = spec_with_token()
    h.answer(h.workload(spec, suspended=True))
    h.executor.launch(spec)
    (workload,) = h.created()
    assert workload["spec"]["suspend"] is True
    assert TOKEN not in json.dumps(workload), "the token is never in the workload's spec"
    (call,) = h.server.requests("POST", "/secrets")
    secret = call.body
    assert call.path == SECRETS.path("ingestion")
    assert secret["metadata"]["name"] == spec.run_name
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": workload["apiVersion"],
            "kind": workload["kind"],
            "name": spec.run_name,
            "uid": f"uid-{spec.run_id}",
        }
    ]
    assert json.loads(secret["stringData"]["config"]) == spec.config
    (resumed,) = resume_calls(h)
    assert resumed["spec"]["suspend"] is (None if h.kind == "argo" else False)
    assert h.record().state == "queued"


def test_a_resent_launch_of_a_suspended_workload_replaces_the_secret_and_resumes(
    h: Harness,
) -> None:
    """The runner stopped between create and resume; the server sends the request again."""
    spec = spec_with_token()
    h.put(h.workload(spec, suspended=True))  # so the create is answered 409 (already exists)
    h.server.state.objects[SECRETS.path("ingestion", spec.run_name)] = {"kind": "Secret"}
    h.executor.launch(spec)
    (put,) = h.server.requests("PUT", "/secrets/" + spec.run_name)
    assert put.path == SECRETS.path("ingestion", spec.run_name)
    assert json.loads(put.body["stringData"]["config"]) == spec.config
    assert len(resume_calls(h)) == 1


def test_a_resent_launch_of_a_running_workload_touches_nothing(h: Harness) -> None:
    spec = spec_with_token()
    h.put(h.workload(spec, "running"))  # so the create is answered 409 (already exists)
    h.executor.launch(spec)
    assert h.server.requests("POST", "/secrets") == []
    assert resume_calls(h) == []


def test_a_secret_that_cannot_be_made_rolls_back_and_fails_the_run(h: Harness) -> None:
    spec = spec_with_token()
    h.answer(h.workload(spec, suspended=True))
    h.server.state.errors[SECRETS.path("ingestion")] = (403, "secrets is forbidden")
    with pytest.raises(Forbidden) as caught:
        h.executor.launch(spec)
    assert "the runner's Role lacks create on secrets in namespace ingestion" in str(caught.value)
    assert caught.value.retryable is False
    assert h.deletes()[-1].path == h.path(spec.run_name)
    assert resume_calls(h) == [], "never resumed without its config"
    record = h.record()
    assert (record.state, record.reason) == ("failed", "Forbidden")
    # The watch then hears the deletion; the run stays failed for the reason it failed.
    h.executor.tracker.workload_event("DELETED", h.workload(spec, suspended=True))
    assert h.record().reason == "Forbidden"


def test_a_workload_left_suspended_is_resumed_on_re_adoption(h: Harness) -> None:
    """A runner stopped between creating a workload and resuming it: with no cap, the
    suspended workload is a waiting run that fits, and re-adoption resumes it."""
    spec = make_spec("left-behind")
    running = make_spec("running-one")
    # What start() lists: one workload still suspended, one that runs.
    workloads = [h.workload(spec, suspended=True), h.workload(running, "running")]
    for obj in workloads:
        h.put(obj)
    h.executor.tracker.sync_workloads(workloads)
    assert h.executor.wait_idle(5)
    assert len(resume_calls(h)) == 1  # only the suspended one
    assert h.patches()[0].path == h.path(spec.run_name)
    record = h.executor.table.get(spec.run_id)
    assert record is not None
    assert record.state == "queued"
    assert record.reason is None, "resumed: it waits for nothing"


def test_the_dry_run_shows_the_secret_redacted(h: Harness) -> None:
    spec = spec_with_token()
    workload, secret = h.executor.render(spec)
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert TOKEN not in json.dumps([workload, secret])
    size = len(json.dumps(spec.config, separators=(",", ":")))
    assert secret["stringData"] == {"config": f"(redacted: {size} bytes of the run's config)"}
