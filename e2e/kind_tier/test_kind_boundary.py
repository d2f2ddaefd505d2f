"""The operator's boundary on real pods (the kind tier), for both executors: the runner installed
by the chart with AWS Secrets Manager (moto's server on the host, its requests counted), in a
namespace enforcing the Pod Security Standards' ``restricted`` profile.

What a user would check: a bot-token canary in a run's (and a schedule's) config reaches no
Job, Workflow, CronJob, CronWorkflow or pod, nor the runner's log, only the Secret the workload
owns, which Kubernetes' garbage collector deletes with it; an image outside the policy creates
nothing and the run is reported failed / ImageNotAllowed; a reference outside the scope is
refused without one request reaching the store, while one inside it is checked there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from threading import Lock
from typing import Any

import pytest
import pytest_asyncio
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from e2e.kind.backend import KubeBackend
from e2e.kind_tier.kind_kit import Release, run_frame, serving
from e2e.runner_kit import EXECUTORS, eventually, new_run_id
from runtime.executors.naming import run_name

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
FINAL = ("success", "failed", "stopped", "partialSuccess")
CANARY = "eyJ-kind-boundary-canary-token"
REGION = "eu-west-1"


class CountingMoto(ThreadedMotoServer):
    """moto's server, recording each Secrets Manager call it answers (``X-Amz-Target``)."""

    def __init__(self, host: str) -> None:
        super().__init__(ip_address=host, port=0, verbose=False)
        self.calls: list[str] = []
        self._lock = Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            with self._lock:
                self.calls.append(str(environ.get("HTTP_X_AMZ_TARGET", environ["PATH_INFO"])))
            return app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counting, True)
        self._server_ready_event.set()
        self._server.serve_forever()

    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"


class AwsRelease(Release):
    """The chart with `secretsManager: managed-aws`, references scoped to `/collate/*`."""

    def __init__(self, kube: KubeBackend, executor: str, moto: CountingMoto) -> None:
        super().__init__(kube, executor, release="bound")
        self.moto = moto

    def values(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        aws = {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.url(),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        values = super().values({**aws, **(extra_env or {})})
        values["config"]["secretsManager"] = "managed-aws"
        values["config"]["allowedSecretReferences"] = ["/collate/*"]
        return values


@pytest.fixture(scope="module")
def moto(kube: KubeBackend) -> Iterator[CountingMoto]:
    server = CountingMoto(kube.server_host)  # the kind network's gateway: pods reach it
    server.start()
    import boto3

    admin = boto3.client(
        "secretsmanager",
        endpoint_url=server.url(),
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    admin.create_secret(Name="/collate/db-password", SecretString="s3cret")
    admin.create_secret(Name="/prod/root-password", SecretString="root")
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=EXECUTORS)
async def release(
    request: pytest.FixtureRequest, kube: KubeBackend, moto: CountingMoto
) -> AsyncIterator[AwsRelease]:
    async with serving(AwsRelease(kube, request.param, moto)) as rel:
        yield rel


def with_reference(frame: dict[str, Any], reference: str) -> dict[str, Any]:
    frame["config"]["source"]["serviceConnection"]["config"]["authType"] = {"password": reference}
    return frame


def cluster_json(release: Release) -> str:
    kinds = "jobs,cronjobs,pods"
    if release.executor == "argo":
        kinds = "workflows,cronworkflows,pods"
    return release.kube.kubectl("-n", release.namespace, "get", kinds, "-o", "json")


def runner_log(release: Release) -> str:
    return release.kube.kubectl(
        "-n", release.namespace, "logs", "-l", "app.kubernetes.io/name=hybrid-ingestion-runner",
        "--tail=-1",
    )  # fmt: skip


async def test_a_bot_token_canary_reaches_no_spec_and_goes_with_its_owner(
    release: AwsRelease,
) -> None:
    run_id = new_run_id()
    frame = with_reference(run_frame(run_id, {"seconds": 1}), "secret:/collate/db-password")
    frame["config"]["workflowConfig"]["openMetadataServerConfig"]["securityConfig"] = {
        "jwtToken": CANARY
    }
    assert (await release.request(frame))["ok"]
    final = await release.wait_update(run_id, *FINAL)
    assert final["state"] == "success", final
    fqn = "e2e_svc.boundary_schedule"
    schedule = {**frame, "type": "deploy_pipeline", "pipelineFqn": fqn, "schedule": "0 2 * * *"}
    schedule.pop("runId")
    deployed = await release.request(schedule)
    assert deployed["ok"], deployed
    seen = await asyncio.to_thread(cluster_json, release)
    assert CANARY not in seen and CANARY not in await asyncio.to_thread(runner_log, release)
    name = run_name(run_id)  # the Job's or Workflow's, and its config Secret's
    assert CANARY in await asyncio.to_thread(release.config_of, run_id)
    kind = "job" if release.executor == "simpleK8s" else "workflow"
    await asyncio.to_thread(release.kube.kubectl, "-n", release.namespace, "delete", kind, name)
    await eventually(
        "the garbage collector to delete the run's config Secret",
        lambda: not secret_exists(release, name),
        timeout=60,
    )
    schedule_name = deployed["result"]["scheduleName"]
    assert secret_exists(release, schedule_name)
    assert (await release.request({"type": "delete_pipeline", "pipelineFqn": fqn}))["ok"]
    await eventually(
        "the schedule's config Secret to go with it",
        lambda: not secret_exists(release, schedule_name),
        timeout=60,
    )


def secret_exists(release: Release, name: str) -> bool:
    found = release.kube.kubectl(
        "-n", release.namespace, "get", "secret", name, "--ignore-not-found", "-o", "name"
    )
    return bool(found.strip())


async def test_an_image_outside_the_policy_creates_nothing(release: AwsRelease) -> None:
    run_id = new_run_id()
    frame = run_frame(run_id, {"seconds": 1}, image="docker.io/attacker/miner:latest")
    reply = await release.request(frame)
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden", reply
    update = await release.wait_update(run_id, "failed", reason="ImageNotAllowed")
    assert "INGESTION_ALLOWED_IMAGES" in update["message"], update
    assert run_id not in await asyncio.to_thread(cluster_json, release)
    audit = [line for line in (await asyncio.to_thread(runner_log, release)).splitlines()
             if '"event": "refused"' in line and run_id in line]  # fmt: skip
    assert json.loads(audit[-1])["asked"] == ["docker.io/attacker/miner:latest"]


async def test_a_reference_outside_the_scope_never_reaches_the_store(
    release: AwsRelease,
) -> None:
    before = len(release.moto.calls)
    run_id = new_run_id()
    frame = with_reference(run_frame(run_id, {"seconds": 1}), "secret:/prod/root-password")
    reply = await release.request(frame)
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden", reply
    assert "/prod/root-password" in reply["error"]["message"], reply
    await release.wait_update(run_id, "failed", reason="SecretNotAllowed")
    assert release.moto.calls[before:] == [], "the store was asked about a refused reference"
    inside = with_reference(run_frame(new_run_id(), {"seconds": 1}), "secret:/collate/nope")
    reply = await release.request(inside)
    assert reply["error"]["code"] == "secret_not_found", reply
    assert release.moto.calls[before:] == ["secretsmanager.DescribeSecret"]
    print(f"moto: {len(release.moto.calls)} calls in all, {release.moto.calls[before:]} here")


async def test_the_namespace_refuses_a_pod_that_breaks_the_restricted_profile(
    release: AwsRelease,
) -> None:
    """What makes every other scenario's pods count: the namespace really enforces the
    restricted profile, so a pod the runner caused that broke it would have been refused."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "breaks-restricted", "namespace": release.namespace},
        "spec": {
            "containers": [
                {"name": "main", "image": release.kube.images["stand-in"], "command": ["true"]}
            ]
        },
    }
    with (
        release.kube.values_file(pod) as path,
        pytest.raises(RuntimeError, match="violates PodSecurity") as refused,
    ):
        await asyncio.to_thread(release.kube.kubectl, "apply", "-f", path)
    assert "restricted" in str(refused.value), refused.value
