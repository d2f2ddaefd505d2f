"""The executor, and what every ingestion pod shares: image, identity, security, env, resources."""

from __future__ import annotations

import attrs

from runtime.config.backends import EXECUTOR_TYPES, executors_described
from runtime.config.env_parsers import choice, csv, extra_envs, int_range, parse_bool, text
from runtime.config.fields import setting

#: Kubernetes refuses a runAsUser / runAsGroup / fsGroup outside 0..2^31-1.
LINUX_ID = int_range(0, 2_147_483_647)
#: The ``openmetadata`` user of OpenMetadata's ingestion image (its Dockerfile ends with
#: ``USER openmetadata``, uid and gid 1000).
INGESTION_IMAGE_ID = 1000


@attrs.frozen(kw_only=True, slots=False)
class IngestionPodSettings:
    """The executor and what all ingestion pods share."""

    executor_type: str = setting(
        "EXECUTOR_TYPE",
        choice(EXECUTOR_TYPES),
        None,
        f"Where runs execute: {executors_described()}. Unset, it is `argo` when any variable "
        "of the Argo mode of Collate's chart is: PIPELINE_SERVICE_CLIENT_ENDPOINT or "
        "ARGO_TOKEN (not empty; their values are not used), ARGO_PIPELINE_TYPE_CONFIGS (even "
        "empty).",
        default_doc="`local`, or `argo` (see meaning)",
    )
    #: Why ``executor_type`` is what it is (EXECUTOR_TYPE, an Argo-mode variable, the default).
    executor_reason: str = "EXECUTOR_TYPE is set"
    ingestion_namespace: str = setting(
        "INGESTION_NAMESPACE",
        text,
        None,
        "Namespace of ingestion workloads and Kubernetes secrets.",
        default_doc="the runner pod's namespace, else `default`",
    )
    ingestion_image: str = setting(
        "INGESTION_IMAGE",
        text,
        "",
        "Ingestion image `repository[:tag]`; with dynamic versioning its tag is replaced by "
        "the one derived from the server version. With no tag and none derived, launches fail "
        "naming this variable. A request's `image` wins.",
        default_doc="`docker.getcollate.io/openmetadata/ingestion-base` (OpenMetadata's, no tag)",
    )
    dynamic_ingestion_version: bool = setting(
        "DYNAMIC_INGESTION_VERSION_ENABLED",
        parse_bool,
        True,
        "Derive the ingestion image tag from the server version: `1.13.3` for OpenMetadata's "
        "images, `om-1.13.3-cl-1.13.3` for Collate's (a `collate-*` repository, Collate's ECR, "
        "or an `om-*-cl-*` tag); `false`: INGESTION_IMAGE's own tag.",
    )
    ingestion_disable_version_validation: bool = setting(
        "INGESTION_DISABLE_VERSION_VALIDATION",
        parse_bool,
        False,
        "`true`: every run's OpenMetadata server connection gets `enableVersionValidation: "
        "false`, so the ingestion client runs although its version differs from the server's "
        "(an image pinned with dynamic versioning off); `false`: the config as the server sent "
        "it (the client stops on a version mismatch).",
    )
    ingestion_service_account: str = setting(
        "INGESTION_SERVICE_ACCOUNT_NAME",
        text,
        "",
        "Service account of ingestion pods (cloud identity for secrets).",
    )
    ingestion_image_pull_secrets: tuple[str, ...] = setting(
        "INGESTION_IMAGE_PULL_SECRETS",
        csv,
        (),
        "Comma-separated image pull Secret names for ingestion pods.",
    )
    ingestion_automount_sa_token: bool = setting(
        "INGESTION_AUTOMOUNT_SA_TOKEN",
        parse_bool,
        True,
        "Mount the service account token into ingestion pods (needed for Kubernetes secrets).",
    )
    ingestion_run_as_user: int | None = setting(
        "INGESTION_RUN_AS_USER",
        LINUX_ID,
        INGESTION_IMAGE_ID,
        "Numeric `runAsUser` of ingestion pods: the `openmetadata` user of OpenMetadata's "
        "image (the kubelet refuses runAsNonRoot with a named image user); empty: not set "
        "(OpenShift assigns one).",
        blank_is_none=True,
    )
    ingestion_run_as_group: int | None = setting(
        "INGESTION_RUN_AS_GROUP",
        LINUX_ID,
        INGESTION_IMAGE_ID,
        "`runAsGroup` of ingestion pods; empty: not set.",
        blank_is_none=True,
    )
    ingestion_fs_group: int | None = setting(
        "INGESTION_FS_GROUP",
        LINUX_ID,
        INGESTION_IMAGE_ID,
        "`fsGroup` of ingestion pods (group owning their volumes); empty: not set.",
        blank_is_none=True,
    )
    ingestion_run_as_non_root: bool = setting(
        "INGESTION_RUN_AS_NON_ROOT",
        parse_bool,
        True,
        "`runAsNonRoot` of ingestion pods; `false` with INGESTION_RUN_AS_USER=0 for an old "
        "image that needs root.",
    )
    ingestion_extra_envs: dict[str, str] = setting(  # noqa: RUF009 (metadata only, no default)
        "INGESTION_EXTRA_ENVS",
        extra_envs,
        {},
        "Extra env of ingestion pods: `K=V,K2=V2`, `[K:V,K2:V2]` or a JSON object.",
    )
    ingestion_cpu_request: str = setting(
        "INGESTION_CPU_REQUEST",
        text,
        "",
        "CPU request of pipeline pods.",
    )
    ingestion_cpu_limit: str = setting(
        "INGESTION_CPU_LIMIT",
        text,
        "",
        "CPU limit of pipeline pods.",
    )
    ingestion_memory_request: str = setting(
        "INGESTION_MEMORY_REQUEST",
        text,
        "",
        "Memory request of pipeline pods.",
    )
    ingestion_memory_limit: str = setting(
        "INGESTION_MEMORY_LIMIT",
        text,
        "",
        "Memory limit of pipeline pods.",
    )
    automation_cpu_request: str = setting(
        "INGESTION_AUTOMATION_WORKFLOW_CPU_REQUEST",
        text,
        "",
        "CPU request of test-connection pods.",
    )
    automation_cpu_limit: str = setting(
        "INGESTION_AUTOMATION_WORKFLOW_CPU_LIMIT",
        text,
        "",
        "CPU limit of test-connection pods.",
    )
    automation_memory_request: str = setting(
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_REQUEST",
        text,
        "",
        "Memory request of test-connection pods.",
    )
    automation_memory_limit: str = setting(
        "INGESTION_AUTOMATION_WORKFLOW_MEMORY_LIMIT",
        text,
        "",
        "Memory limit of test-connection pods.",
    )
