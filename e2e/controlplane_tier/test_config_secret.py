"""The run's config Secret against a real API server and its garbage collector (the local control
plane; the runner holds only the chart's Role): the bot's token is in no Workflow, Job,
CronWorkflow or CronJob, only in a Secret the workload owns, which Kubernetes deletes with it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes import client as k8s

from e2e.runner_kit import (
    ARGO,
    EXECUTORS,
    Deployment,
    eventually,
    new_run_id,
    pipeline_config,
    run_frame,
)

pytestmark = pytest.mark.e2e
CANARY = "eyJ-config-secret-canary-token"


def with_canary(config: dict[str, Any]) -> dict[str, Any]:
    config["workflowConfig"]["openMetadataServerConfig"]["securityConfig"]["jwtToken"] = CANARY
    return config


def delete(d: Deployment, kind: str, name: str) -> None:
    options = k8s.V1DeleteOptions(propagation_policy="Background")
    if d.executor == "argo":
        plural = "workflows" if kind == "run" else "cronworkflows"
        k8s.CustomObjectsApi(d.admin).delete_namespaced_custom_object(
            ARGO["group"], ARGO["version"], d.namespace, plural, name, body=options
        )
    elif kind == "run":
        k8s.BatchV1Api(d.admin).delete_namespaced_job(name, d.namespace, body=options)
    else:
        k8s.BatchV1Api(d.admin).delete_namespaced_cron_job(name, d.namespace, body=options)


def owned_by(d: Deployment, obj: dict[str, Any]) -> dict[str, Any]:
    """The Secret named like ``obj``, checked to be owned by it (uid) and to hold the canary."""
    secret = d.secret(obj["metadata"]["name"])
    assert secret is not None, f"no config Secret for {obj['metadata']['name']}"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner["uid"] == obj["metadata"]["uid"]
    assert CANARY in secret["data"]["config"]
    return secret


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_a_runs_config_secret_lives_and_goes_with_its_workload(
    deploy: Any, executor: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_id = new_run_id()
    frame = run_frame(run_id)
    with_canary(frame["config"])
    assert (await d.request(frame))["ok"]
    await d.wait_state(run_id, "success", "failed", timeout=60)
    (workload,) = await asyncio.to_thread(d.workloads, run_id)
    assert CANARY not in json.dumps(workload), "the token is in the workload"
    assert not workload["spec"].get("suspend"), "resumed once its Secret existed"
    owned_by(d, workload)
    name = workload["metadata"]["name"]
    await asyncio.to_thread(delete, d, "run", name)
    await eventually("the garbage collector to delete the Secret", lambda: d.secret(name) is None)


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_a_schedules_config_secret_is_replaced_on_redeploy_and_goes_with_it(
    deploy: Any, executor: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    fqn = "e2e_svc.scheduled_secret"
    frame = {
        "type": "deploy_pipeline",
        "pipelineFqn": fqn,
        "pipelineType": "metadata",
        "schedule": "0 2 * * *",
        "config": with_canary(pipeline_config(fqn)),
    }
    assert (await d.request(frame))["ok"]
    (schedule,) = await asyncio.to_thread(d.schedules)
    assert CANARY not in json.dumps(schedule)
    assert schedule["spec"]["suspend"] is False
    name = schedule["metadata"]["name"]
    first = owned_by(d, schedule)

    frame["config"]["source"]["serviceName"] = "renamed"
    assert (await d.request(frame))["ok"]
    second = owned_by(d, schedule)
    assert '"serviceName":"renamed"' in second["data"]["config"]
    assert second["metadata"]["uid"] == first["metadata"]["uid"], "replaced in place"

    assert (await d.request({"type": "delete_pipeline", "pipelineFqn": fqn}))["ok"]
    await eventually("the garbage collector to delete the Secret", lambda: d.secret(name) is None)
