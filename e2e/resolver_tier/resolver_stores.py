"""The four secrets stores of the resolver tier, each reached by unmodified clients.

What each store needs beyond the pod's own environment, and why (every name listed here is one
the test module's docstring names too):

* Kubernetes (the local control plane's real apiserver): the pod says
  ``KUBERNETES_IN_CLUSTER=true``, which makes OpenMetadata call ``load_incluster_config()``: a
  token and CA at fixed paths under /var/run/secrets and ``KUBERNETES_SERVICE_HOST``, that only
  the kubelet provides. The override OpenMetadata's ``env`` loader documents for running outside
  a cluster replaces it: ``KUBERNETES_IN_CLUSTER=false`` with ``KUBERNETES_KUBECONFIG_PATH`` (a
  kubeconfig holding a bound token of the ingestion ServiceAccount, bound to the Role the chart
  renders for ingestion pods). The in-cluster path itself is proven on real pods by the kind tier.
* AWS (moto's server): ``AWS_ENDPOINT_URL`` (boto3's endpoint variable) and
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` in place of what IRSA injects.
* Azure (the HTTPS Key Vault fake, serving ``<vault>.vault.azure.net``): ``https_proxy`` /
  ``no_proxy`` (the CONNECT proxy tunnels the vault's name to the fake), ``REQUESTS_CA_BUNDLE``
  (the test CA), ``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` (a managed identity's token
  endpoint, in place of workload identity).
* GCP (the gRPC fake, serving TLS for ``secretmanager.googleapis.com``): ``https_proxy`` /
  ``no_proxy`` (gRPC's proxy support), ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` (the test CA),
  ``GOOGLE_APPLICATION_CREDENTIALS`` (a service account key, in place of workload identity).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client as k8s

from e2e.controlplane.cluster import LocalControlPlane
from e2e.resolver_tier.cloud_egress import ConnectProxy, IdentityEndpoint
from e2e.resolver_tier.resolver_kit import EXECUTORS, Store
from runtime.permissions import ingestion_rules_for, rules_for
from tests.runtime.secrets.azure_server import FakeKeyVault
from tests.runtime.secrets.gcp_server import FakeSecretManager

AWS_REGION = "eu-west-1"
VAULT_NAME = "e2e-collate-vault"
VAULT_HOST = f"{VAULT_NAME}.vault.azure.net"
GCP_HOST = "secretmanager.googleapis.com"
GCP_PROJECT = "e2e-collate-project"
INGESTION_SA = "e2e-ingestion"
RUNNER_USER = "e2e-hybrid-runner"
RBAC_GROUP = "rbac.authorization.k8s.io"


#: The Kubernetes Secrets the tier's references name (config.allowedSecretReferences): the
#: Roles grant get on exactly these, as the chart does.
K8S_PRESENT, K8S_MISSING = "e2e-mysql-password", "e2e-mysql-password-missing"
K8S_ALLOWED = (K8S_PRESENT, K8S_MISSING)


def kubernetes_store(cluster: LocalControlPlane, namespace: str) -> Store:
    api = cluster.api_client()
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": INGESTION_SA}})
        rules = ingestion_rules_for("argo", "kubernetes", K8S_ALLOWED)
        role = {"metadata": {"name": INGESTION_SA}, "rules": rules}
        rbac.create_namespaced_role(namespace, role)
        binding = {
            "metadata": {"name": INGESTION_SA},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": INGESTION_SA},
            "subjects": [{"kind": "ServiceAccount", "name": INGESTION_SA, "namespace": namespace}],
        }
        rbac.create_namespaced_role_binding(namespace, binding)
    finally:
        api.close()
    # The runner's own identity: the Role the chart renders for it (both executors' rules).
    rules = rules_for(EXECUTORS["run_pipeline"], "kubernetes", K8S_ALLOWED)
    rules += rules_for(EXECUTORS["test_connection"], "kubernetes", K8S_ALLOWED)
    runner_kubeconfig = cluster.kubeconfig_for_role(namespace, RUNNER_USER, rules=rules)
    pod_kubeconfig = cluster.kubeconfig_for_service_account(namespace, INGESTION_SA)

    def put(secret_id: str, value: str) -> None:
        body = {
            "metadata": {"name": secret_id},
            "data": {"value": base64.b64encode(value.encode()).decode()},
        }
        admin = cluster.api_client()
        try:
            k8s.CoreV1Api(admin).create_namespaced_secret(namespace, body)
        finally:
            admin.close()

    return Store(
        name="kubernetes",
        present=f"secret:{K8S_PRESENT}",
        missing=f"secret:{K8S_MISSING}",
        runner_env={
            "SECRETS_MANAGER": "kubernetes",
            "INGESTION_NAMESPACE": namespace,
            "INGESTION_SERVICE_ACCOUNT_NAME": INGESTION_SA,
        },
        overrides={},
        runner_only={"KUBECONFIG": str(runner_kubeconfig)},
        pod_only={
            "KUBERNETES_IN_CLUSTER": "false",
            "KUBERNETES_KUBECONFIG_PATH": str(pod_kubeconfig),
        },
        put=put,
    )


def aws_store(moto_url: str) -> Store:
    import boto3

    admin = boto3.session.Session().client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name=AWS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return Store(
        name="aws",
        present="secret:/my/database/password",
        missing="secret:/my/database/password-missing",
        runner_env={"SECRETS_MANAGER": "managed-aws", "AWS_DEFAULT_REGION": AWS_REGION},
        overrides={
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        put=lambda secret_id, value: admin.create_secret(Name=secret_id, SecretString=value),
    )


def proxy_env(proxy: ConnectProxy) -> dict[str, str]:
    return {"https_proxy": proxy.url, "no_proxy": "127.0.0.1,localhost"}


def azure_store(
    vault: FakeKeyVault, proxy: ConnectProxy, identity: IdentityEndpoint, ca_bundle: Path
) -> Store:
    return Store(
        name="azure",
        present=f"secret:{K8S_PRESENT}",
        missing=f"secret:{K8S_MISSING}",
        runner_env={"SECRETS_MANAGER": "managed-azure-kv", "AZURE_KEY_VAULT_NAME": VAULT_NAME},
        overrides={
            **proxy_env(proxy),
            "REQUESTS_CA_BUNDLE": str(ca_bundle),
            "IDENTITY_ENDPOINT": identity.azure_identity_endpoint,
            "IDENTITY_HEADER": identity.identity_header,
        },
        put=lambda secret_id, value: vault.add(secret_id, value) and None,
    )


def gcp_key_file(directory: Path, identity: IdentityEndpoint) -> Path:
    """A service account key (a fresh RSA key) whose token endpoint is ``identity``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = directory / "gcp-service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": GCP_PROJECT,
                "private_key_id": "e2e",
                "private_key": pem,
                "client_email": f"collate-ingestion@{GCP_PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": identity.gcp_token_uri,
            }
        )
    )
    return path


def gcp_store(server: FakeSecretManager, proxy: ConnectProxy, key_file: Path, ca: Path) -> Store:
    return Store(
        name="gcp",
        present=f"secret:{K8S_PRESENT}",
        missing=f"secret:{K8S_MISSING}",
        runner_env={"SECRETS_MANAGER": "gcp", "GOOGLE_CLOUD_PROJECT": GCP_PROJECT},
        overrides={
            **proxy_env(proxy),
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca),
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        },
        put=lambda secret_id, value: server.add(GCP_PROJECT, secret_id, value) and None,
    )
