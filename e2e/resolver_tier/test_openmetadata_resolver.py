"""OpenMetadata's own resolver, given the pod the runner makes, yields the stored secret.

The tier the product's promise rests on: references like ``secret:/my/database/password`` are
resolved by the ingestion process with OpenMetadata's secrets managers, from the provider, loader
and variables the runner puts on the pod. For each store (Kubernetes on the local control plane,
AWS on moto's server, Azure on the HTTPS Key Vault fake, GCP on the gRPC fake) and both
entrypoints (run_pipeline -> ``main.py``, test_connection -> ``run_automation.py``, and the
pod of a scheduled run, deploy_pipeline -> ``main.py``):

1. a canary is stored under the docs' reference form;
2. ``hybrid-runner invoke --dry-run`` (the runner itself, preflight on) renders the pod (for
   deploy_pipeline, the CronWorkflow's);
3. openmetadata-ingestion (pinned in e2e/images/openmetadata/requirements/, in its own venv:
   e2e/resolver_tier/openmetadata_venv.py) runs the OpenMetadata image's entrypoint with exactly
   that pod's environment plus the store's named overrides (e2e/resolver_tier/resolver_stores.py
   lists them and why):
   ``OpenMetadataWorkflowConfig`` / automations ``Workflow`` parse ``config``,
   ``SecretsManagerFactory(provider, loader)`` as OpenMetadata's client builds it, the
   password read through OpenMetadata's secret type; its digest must be the canary's;
4. a reference to nothing: the runner's preflight refuses it naming the id; the pod the runner
   makes with the preflight off (``SECRETS_PREFLIGHT=false``) lets OpenMetadata fail, and
   OpenMetadata's own log names the same id.

Required in CI (``E2E_REQUIRE=1``): a missing piece fails there and is skipped, named,
elsewhere. Secret values are never printed: digests only.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e.controlplane.cluster import LocalControlPlane
from e2e.resolver_tier import openmetadata_venv, resolver_stores
from e2e.resolver_tier.cloud_egress import CloudCA, ConnectProxy, IdentityEndpoint
from e2e.resolver_tier.resolver_kit import (
    ENTRYPOINTS,
    PodResult,
    Store,
    image_env,
    invoke,
    message,
    openmetadata_log_lines,
    pod_env,
    run_openmetadata,
    runner_process_env,
    sha256_hex,
)
from tests.runtime.secrets.azure_server import FakeKeyVault
from tests.runtime.secrets.gcp_server import FakeSecretManager

pytestmark = [pytest.mark.openmetadata, pytest.mark.timeout(900)]
STORES = ("kubernetes", "aws", "azure", "gcp")


def _unavailable(reason: str) -> None:
    if os.environ.get("E2E_REQUIRE", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"E2E_REQUIRE is set and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def openmetadata_python() -> Path:
    """The OpenMetadata venv's interpreter, built on first use (cached afterwards)."""
    started = time.monotonic()
    try:
        python = openmetadata_venv.build()
    except openmetadata_venv.VenvError as exc:
        _unavailable(f"the openmetadata-ingestion venv could not be built: {exc}")
    print(f"\nopenmetadata venv ready in {time.monotonic() - started:.0f} s: {python}")
    return python


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The cloud fakes, a CA they share, the proxy to them and the identity endpoints."""
    from moto.server import ThreadedMotoServer

    workdir = tmp_path_factory.mktemp("cloud")
    ca = CloudCA(workdir)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    _, vault_chain, vault_key = ca.serving("vault", resolver_stores.VAULT_HOST)
    vault = FakeKeyVault(workdir, certificate=(vault_chain, vault_key))
    vault.start()
    gcp_pair, _, _ = ca.serving("gcp", resolver_stores.GCP_HOST)
    gcp = FakeSecretManager(tls=(gcp_pair.cert_pem + ca.ca.pair.cert_pem, gcp_pair.key_pem))
    gcp.start()
    proxy = ConnectProxy(
        {
            f"{resolver_stores.VAULT_HOST}:443": int(vault.url.rsplit(":", 1)[1]),
            f"{resolver_stores.GCP_HOST}:443": gcp.port,
        }
    )
    identity = IdentityEndpoint(azure_token=vault.token)
    yield {
        "ca": ca,
        "moto_url": f"http://{host}:{port}",
        "vault": vault,
        "gcp": gcp,
        "proxy": proxy,
        "identity": identity,
        "workdir": workdir,
    }
    for stop in (identity.stop, proxy.stop, gcp.stop, vault.stop, moto.stop):
        stop()


def make_store(name: str, request: pytest.FixtureRequest, cloud: dict[str, object]) -> Store:
    ca: CloudCA = cloud["ca"]  # type: ignore[assignment]
    proxy: ConnectProxy = cloud["proxy"]  # type: ignore[assignment]
    identity: IdentityEndpoint = cloud["identity"]  # type: ignore[assignment]
    if name == "kubernetes":
        cluster: LocalControlPlane = request.getfixturevalue("cluster")
        namespace = f"e2e-om-{uuid.uuid4().hex[:8]}"
        cluster.create_namespace(namespace)
        return resolver_stores.kubernetes_store(cluster, namespace)
    if name == "aws":
        return resolver_stores.aws_store(str(cloud["moto_url"]))
    if name == "azure":
        vault: FakeKeyVault = cloud["vault"]  # type: ignore[assignment]
        return resolver_stores.azure_store(vault, proxy, identity, ca.bundle)
    gcp: FakeSecretManager = cloud["gcp"]  # type: ignore[assignment]
    key_file = resolver_stores.gcp_key_file(Path(str(cloud["workdir"])), identity)
    return resolver_stores.gcp_store(gcp, proxy, key_file, ca.bundle)


@dataclass
class Proof:
    """Everything one store's run produced, per entrypoint."""

    store: Store
    canary: str = field(repr=False)  # a failure report shows the Proof: never the value
    refused: dict[str, dict[str, object]] = field(default_factory=dict)
    present: dict[str, PodResult] = field(default_factory=dict)
    missing: dict[str, PodResult] = field(default_factory=dict)
    manifests_text: dict[str, str] = field(default_factory=dict)
    pod_envs: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest.fixture(scope="module", params=STORES)
def proof(
    request: pytest.FixtureRequest,
    cloud: dict[str, object],
    openmetadata_python: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Proof:
    """For one store: the canary stored, the runner's pods made, OpenMetadata run on them."""
    store = make_store(str(request.param), request, cloud)
    workdir = tmp_path_factory.mktemp(f"resolver-{store.name}")
    canary = f"CANARY-{secrets.token_hex(16)}"
    store.put(store.present.removeprefix("secret:"), canary)
    result = Proof(store, canary)
    pods: list[tuple[str, dict[str, str]]] = []
    for entrypoint in ENTRYPOINTS:
        env = runner_process_env(store, entrypoint, workdir)
        made = invoke(message(entrypoint, store.present, str(uuid.uuid4())), env, workdir)
        assert made.code == 0, f"the runner refused the stored reference: {made.reply}"
        result.manifests_text[entrypoint] = made.text
        result.pod_envs[entrypoint] = pod_env(made.manifests)
        refused = invoke(message(entrypoint, store.missing, str(uuid.uuid4())), env, workdir)
        assert refused.code == 1 and not refused.manifests, refused.reply
        result.refused[entrypoint] = refused.reply
        unchecked_env = {**env, "SECRETS_PREFLIGHT": "false"}
        unchecked = invoke(
            message(entrypoint, store.missing, str(uuid.uuid4())), unchecked_env, workdir
        )
        assert unchecked.code == 0, unchecked.reply
        for frame_env in (result.pod_envs[entrypoint], pod_env(unchecked.manifests)):
            pods.append(
                (
                    entrypoint,
                    {
                        **image_env(workdir, openmetadata_python),
                        **frame_env,
                        **store.overrides,
                        **store.pod_only,
                    },
                )
            )
    outcomes = iter(run_openmetadata(openmetadata_python, pods, workdir))
    for entrypoint in ENTRYPOINTS:
        result.present[entrypoint] = next(outcomes)
        result.missing[entrypoint] = next(outcomes)
    return result


@pytest.mark.parametrize("entrypoint", list(ENTRYPOINTS))
def test_openmetadata_resolves_the_reference_to_the_stored_value(
    proof: Proof, entrypoint: str
) -> None:
    outcome = proof.present[entrypoint]
    assert outcome.code == 0, f"{entrypoint}:\n{outcome.stdout}\n{outcome.stderr}"
    assert outcome.digest() == sha256_hex(proof.canary)
    line = next(x for x in outcome.stdout.splitlines() if "sha256=" in x)
    assert f"provider={proof.store.runner_env['SECRETS_MANAGER']} loader=env" in line
    assert f"reference={proof.store.present}" in line
    everything = outcome.stdout + outcome.stderr + proof.manifests_text[entrypoint]
    assert proof.canary not in everything  # neither the pod spec nor OpenMetadata's output


@pytest.mark.parametrize("entrypoint", list(ENTRYPOINTS))
def test_a_missing_reference_is_refused_by_preflight_and_named_by_openmetadata(
    proof: Proof, entrypoint: str
) -> None:
    missing_id = proof.store.missing.removeprefix("secret:")
    error = proof.refused[entrypoint]["error"]
    assert isinstance(error, dict)
    assert error["code"] == "secret_not_found"
    assert f"secret:{missing_id} at $." in str(error["message"])

    outcome = proof.missing[entrypoint]
    assert outcome.code == 3, f"{outcome.stdout}\n{outcome.stderr}"
    assert f"secret reference {proof.store.missing} did not resolve" in outcome.stdout
    logged = openmetadata_log_lines(outcome.stderr)
    naming = [line for line in logged if missing_id in line]
    if proof.store.name != "kubernetes":
        # The store raised; OpenMetadata logs errors naming the id and goes on with the literal
        # reference as the password.
        assert "OpenMetadata returned the literal reference" in outcome.stdout
        assert [line for line in naming if " ERROR " in line], "\n".join(logged)
        return
    # OpenMetadata's Kubernetes store answers a missing Secret (404) with None, logged at DEBUG
    # only; the password becomes "" with a warning that does not name the Secret. Pipelines log
    # the id at INFO (their loggerLevel) before reading it; test connection does not at all.
    assert "OpenMetadata returned an empty value" in outcome.stdout
    assert not [line for line in logged if " ERROR " in line], "\n".join(logged)
    assert any("Resolved a null secret value" in line for line in logged)
    if ENTRYPOINTS[entrypoint] == "main.py":  # a pipeline, scheduled or not
        assert [line for line in naming if " INFO " in line], "\n".join(logged)
    else:
        assert not naming, "OpenMetadata now names it: update README's Managing secrets"


def test_nothing_tried_to_reach_a_host_the_proxy_does_not_route(
    proof: Proof, cloud: dict[str, object]
) -> None:
    proxy: ConnectProxy = cloud["proxy"]  # type: ignore[assignment]
    # google-auth (2.6x) looks up a service account's regional access boundary at
    # iamcredentials.googleapis.com in the background, best effort: refused here, harmlessly.
    assert set(proxy.refused) <= {"iamcredentials.googleapis.com:443"}
    if proof.store.name in ("azure", "gcp"):
        hosts = {"azure": resolver_stores.VAULT_HOST, "gcp": resolver_stores.GCP_HOST}
        assert f"{hosts[proof.store.name]}:443" in proxy.tunnelled
