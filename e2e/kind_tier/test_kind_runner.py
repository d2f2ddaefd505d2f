"""The runner on real pods (the kind tier): installed with the project's chart, for both executors.

One release per executor serves the scenarios in order (a helm install costs ~20 s); each
scenario uses its own run ids. What each asserts is what a user would see: run_update order,
the real container's log through ``logs``, the kubelet's own diagnoses (OOMKilled, image pull,
Unschedulable), a Secret read in the cluster, a schedule firing, ``/metrics`` through the
chart's Service, and a replaced runner pod re-adopting a run. The last scenario replaces the
runner pod, so it stays last.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from e2e.kind_tier.kind_kit import TAINT_VALUE, Release, installed, run_frame
from e2e.runner_kit import AGENT, EXECUTORS, eventually, new_run_id
from runtime.executors.naming import run_name

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
FINAL = ("success", "failed", "stopped", "partialSuccess")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=EXECUTORS)
async def release(request: pytest.FixtureRequest, kube: Any) -> AsyncIterator[Release]:
    async with installed(kube, request.param) as rel:
        yield rel


async def launch(release: Release, run_id: str, stand_in: dict[str, Any], **kw: Any) -> None:
    reply = await release.request(run_frame(run_id, stand_in, **kw))
    assert reply["ok"] is True, reply
    assert reply["result"]["state"] == "queued", reply


async def test_a_run_goes_queued_running_success_on_a_real_pod(release: Release) -> None:
    run_id = new_run_id()
    await launch(release, run_id, {"seconds": 3, "lines": 3, "env": True})
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", (final, await asyncio.to_thread(release.describe))
    assert release.states(run_id) == ["queued", "running", "success"]
    (pod,) = await asyncio.to_thread(release.pods, run_id)
    main = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "main")
    assert main["state"]["terminated"]["exitCode"] == 0, main
    status = await release.request({"type": "status", "runId": run_id})
    assert [r["state"] for r in status["result"]["runs"]] == ["success"], status
    log = await release.log_text(run_id)
    assert "stand-in: step 3/3" in log and "stand-in: exiting with 0" in log, log
    env = json.loads(log.split("stand-in: env ", 1)[1].splitlines()[0])
    assert env["pipelineRunId"] == run_id and env["KUBERNETES_IN_CLUSTER"] == "true", env
    assert env["KUBERNETES_NAMESPACE"] == release.namespace, env
    assert env["secretsManagerProvider"] == "kubernetes", env


async def test_request_to_running_time_and_the_runners_share(release: Release) -> None:
    """Request -> pod Running (the runner's `running` update arriving at the server), and the
    runner's part of it: its reply, sent once the Workflow / Job is created.

    Target: a share below 5%. bench/kind_pod_start.py runs this test with more samples
    (BENCH_KIND_SAMPLES) and records the figures for docs/performance.md."""
    totals, replies = [], []
    for _ in range(int(os.environ.get("BENCH_KIND_SAMPLES", "6"))):
        run_id = new_run_id()
        start = time.monotonic()
        await launch(release, run_id, {"seconds": 0.5, "lines": 1})
        replies.append(time.monotonic() - start)
        await release.wait_update(run_id, "running", timeout=120)
        totals.append(time.monotonic() - start)
        await release.wait_update(run_id, *FINAL)
    shares = [reply / total for reply, total in zip(replies, totals, strict=True)]
    figures = {
        "samples": len(totals),
        "total_p50_s": percentile(totals, 50),
        "total_p95_s": percentile(totals, 95),
        "reply_p50_s": percentile(replies, 50),
        "reply_p95_s": percentile(replies, 95),
        "share_median": statistics.median(shares),
        "share_max": max(shares),
    }
    print(f"\n{release.executor}: {figures}")
    if result_file := os.environ.get("BENCH_RESULT_FILE"):
        path = Path(result_file)
        recorded = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**recorded, release.executor: figures}))
    # The 5% target is the benchmark's to judge (bench/kind_pod_start.py, more samples, its
    # figures and verdict in docs/performance.md): speed targets are not timed tests. Here the
    # bound is one a regression trips over and six samples on two shared cores do not: a launch
    # makes three API writes before its reply (the workload created suspended, its config
    # Secret, its resume), alone about 5% of the 0.65 s a Job's pod takes to run on kind; the
    # commit before this bound measured 4.1% and 6.3% in two runs on one machine.
    limit = 0.05 if os.environ.get("BENCH_RESULT_FILE") else 0.10
    assert figures["share_median"] < limit, (totals, replies)


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank, as the benchmarks compute it."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * int(pct) // 100) - 1)]


async def test_a_failing_pod_reports_failed_and_its_real_log(release: Release) -> None:
    run_id = new_run_id()
    await launch(release, run_id, {"seconds": 1, "lines": 2, "exitCode": 3})
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "failed", final
    assert "3" in (final.get("message") or ""), final
    log = await release.log_text(run_id)
    assert "stand-in: step 2/2" in log and "stand-in: exiting with 3" in log, log


async def test_kill_stops_the_running_pod(release: Release) -> None:
    run_id = new_run_id()
    await launch(release, run_id, {"seconds": 600, "lines": 60})
    await release.wait_update(run_id, "running", timeout=120)
    killed = await release.request({"type": "kill", "runId": run_id})
    assert killed["ok"] is True, killed
    final = await release.wait_update(run_id, *FINAL, timeout=120)
    assert final["state"] == "stopped", final

    def no_running_pod() -> bool:
        return all(p["status"].get("phase") != "Running" for p in release.pods(run_id))

    await eventually("the killed run's pod to stop", no_running_pod, timeout=90)


async def test_a_memory_limit_exceeded_is_oomkilled(release: Release) -> None:
    # `profiler` pods get a 48Mi limit from the pipeline type config (kind_kit).
    run_id = new_run_id()
    await launch(release, run_id, {"allocateMiB": 256, "seconds": 30}, pipeline_type="profiler")
    final = await release.wait_update(run_id, *FINAL)
    assert (final["state"], final.get("reason")) == ("failed", "OOMKilled"), final


async def test_a_missing_image_is_reported_as_an_image_pull_failure(release: Release) -> None:
    run_id = new_run_id()
    await launch(release, run_id, {}, image="hybrid-runner-e2e/no-such-image:1")
    update = await release.wait_update(run_id, "queued", "failed", reason="ImagePullBackOff")
    assert "no-such-image" in (update.get("message") or ""), update
    killed = await release.request({"type": "kill", "runId": run_id})
    assert killed["ok"] is True, killed


async def test_a_taint_without_toleration_is_unschedulable_and_the_docs_toleration_runs(
    release: Release,
) -> None:
    node = (await asyncio.to_thread(release.kube.kubectl_json, "get", "nodes"))["items"][0]
    name = node["metadata"]["name"]
    taint = f"dedicated={TAINT_VALUE}:NoSchedule"
    await asyncio.to_thread(release.kube.kubectl, "taint", "node", name, taint)
    try:
        stuck, tolerated = new_run_id(), new_run_id()
        await launch(release, stuck, {"seconds": 1})
        update = await release.wait_update(stuck, "queued", reason="Unschedulable", timeout=60)
        assert "taint" in update.get("message", ""), update
        # `lineage` pods carry the toleration the docs' pipeline type config gives.
        await launch(release, tolerated, {"seconds": 1}, pipeline_type="lineage")
        final = await release.wait_update(tolerated, *FINAL)
        assert final["state"] == "success", final
        assert set(release.states(stuck)) == {"queued"}, release.updates(stuck)
        assert (await release.request({"type": "kill", "runId": stuck}))["ok"]
    finally:
        await asyncio.to_thread(release.kube.kubectl, "taint", "node", name, f"{taint}-")


async def test_a_secret_reference_is_preflighted_and_the_pod_gets_no_value(
    release: Release,
) -> None:
    secret, canary = await release.create_secret("e2e-db")
    missing_id, run_id = new_run_id(), new_run_id()
    frame = run_frame(missing_id, {"seconds": 1})
    auth = frame["config"]["source"]["serviceConnection"]["config"]
    auth["authType"] = {"password": "secret:e2e-no-such-secret"}
    refused = await release.request(frame)
    assert refused["ok"] is False and refused["error"]["code"] == "secret_not_found", refused
    assert "e2e-no-such-secret" in refused["error"]["message"], refused
    assert await asyncio.to_thread(release.pods, missing_id) == []

    frame = run_frame(run_id, {"seconds": 1, "env": True})
    frame["config"]["source"]["serviceConnection"]["config"]["authType"] = {
        "password": f"secret:{secret}"
    }
    assert (await release.request(frame))["ok"]
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", final
    log = await release.log_text(run_id)
    env = json.loads(log.split("stand-in: env ", 1)[1].splitlines()[0])
    assert env["KUBERNETES_IN_CLUSTER"] == "true" and env["secretsManagerLoader"] == "env", env
    (pod,) = await asyncio.to_thread(release.pods, run_id)
    assert canary not in json.dumps(pod) and f"secret:{secret}" not in json.dumps(pod)
    # The reference (never its value) is in the config the pod reads, from its own Secret.
    config = await asyncio.to_thread(release.config_of, run_id)
    assert f"secret:{secret}" in config and canary not in config


async def test_an_ingestion_pod_reads_only_the_listed_secrets(release: Release) -> None:
    """The pod's own service account, asking the API server: the listed Secret is readable;
    the runner's token, Helm's release record (which holds the values) and a run's config
    Secret are not."""
    listed, _ = await release.create_secret("e2e-db")
    token = f"{release.release}-hybrid-ingestion-runner"
    helm_record = f"sh.helm.release.v1.{release.release}.v1"
    run_id = new_run_id()
    asked = [f"secrets/{name}" for name in (token, helm_record, run_name(run_id), listed)]
    await launch(release, run_id, {"seconds": 0.5, "apiGet": asked})
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", final
    log = await release.log_text(run_id)
    for path in asked[:3]:
        assert f"stand-in: api GET {path} -> 403" in log, log
    assert f"stand-in: api GET secrets/{listed} -> 200" in log, log


async def test_a_scheduled_pipeline_fires_and_its_run_is_reported(release: Release) -> None:
    fqn = f"e2e_svc.scheduled_{uuid.uuid4().hex[:6]}"
    frame = run_frame("unused", {"seconds": 1, "env": True})
    config = frame["config"]
    config["ingestionPipelineFQN"] = fqn
    config.pop("pipelineRunId", None)
    deployed = await release.request(
        {
            "type": "deploy_pipeline",
            "pipelineFqn": fqn,
            "pipelineType": "metadata",
            "schedule": "* * * * *",
            "config": config,
        }
    )
    assert deployed["ok"] is True, deployed
    schedule = deployed["result"]["scheduleName"]
    try:
        event = await release.server.wait_event(
            AGENT,
            lambda e: (
                e["type"] == "run_update" and e.get("pipelineFqn") == fqn and e["state"] in FINAL
            ),
            timeout=150,
        )
        assert event["state"] == "success", (event, await asyncio.to_thread(release.describe))
        # The run's id is its Workflow's/Job's uid, and its pod got the same (issue 24): what
        # the ingestion process reports under is what the runner reports under.
        assert event["runName"].startswith(schedule), event
        log = await release.log_text(event["runId"])
        assert "(scheduled)" not in log and "stand-in: exiting with 0" in log, log
        env = json.loads(log.split("stand-in: env ", 1)[1].splitlines()[0])
        assert env["pipelineRunId"] == event["runId"], (env, event)
        kind = "workflows.argoproj.io" if release.executor == "argo" else "jobs"
        uid = await asyncio.to_thread(
            release.kube.kubectl,
            *("get", kind, event["runName"], "-n", release.namespace),
            *("-o", "jsonpath={.metadata.uid}"),
        )
        assert uid == event["runId"], (uid, event)
    finally:
        await release.request({"type": "delete_pipeline", "pipelineFqn": fqn})


async def test_metrics_are_scraped_through_the_charts_service(release: Release) -> None:
    services = await asyncio.to_thread(
        release.kube.kubectl_json,
        "get",
        "svc",
        "-n",
        release.namespace,
        "-l",
        f"app.kubernetes.io/instance={release.release}",
    )
    (svc,) = services["items"]
    name = svc["metadata"]["name"]
    body = await asyncio.to_thread(
        release.kube.raw,
        f"/api/v1/namespaces/{release.namespace}/services/{name}:metrics-app/proxy/metrics",
    )
    assert "collate_hybrid_agent_connected 1.0" in body, body[:2000]
    assert "collate_hybrid_agent_jobs_total" in body, body[:2000]


async def test_a_replaced_runner_pod_readopts_the_run_and_reports_it_once(
    release: Release,
) -> None:
    run_id = new_run_id()
    await launch(release, run_id, {"seconds": 45, "lines": 45})
    await release.wait_update(run_id, "running", timeout=120)
    (old,) = await asyncio.to_thread(release.runner_pods)
    await asyncio.to_thread(
        release.kube.kubectl,
        "-n",
        release.namespace,
        "delete",
        "pod",
        old["metadata"]["name"],
        "--wait=false",
    )

    def new_ready_pod() -> dict[str, Any] | None:
        for pod in release.runner_pods():
            if pod["metadata"]["uid"] == old["metadata"]["uid"]:
                continue
            ready = [
                c
                for c in pod["status"].get("conditions", [])
                if c["type"] == "Ready" and c["status"] == "True"
            ]
            if ready:
                return pod
        return None

    new = await eventually("a new runner pod Ready", new_ready_pod, timeout=180)
    final = await release.wait_update(run_id, *FINAL, timeout=180)
    assert final["state"] == "success", final
    await asyncio.sleep(5)  # a duplicate report would arrive right after the first
    finals = [e for e in release.updates(run_id) if e["state"] in FINAL]
    assert len(finals) == 1, release.updates(run_id)
    log = await asyncio.to_thread(
        release.kube.kubectl,
        "-n",
        release.namespace,
        "logs",
        new["metadata"]["name"],
        "--timestamps",
    )
    adopted = [line for line in log.splitlines() if "runs re-adopted" in line]
    assert adopted, log
    count = re.search(r"\((\d+) runs re-adopted", adopted[0])
    assert count and int(count.group(1)) >= 1, adopted[0]
    ready_at = next(
        c["lastTransitionTime"] for c in new["status"]["conditions"] if c["type"] == "Ready"
    )
    # The pod turned Ready (rollout done) no earlier than the runner re-adopted the run.
    assert ready_at[:19] >= adopted[0].split()[0][:19], (ready_at, adopted[0])
