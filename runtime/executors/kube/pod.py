"""The ingestion pod contract, identical for the ``argo`` and ``simpleK8s`` executors.

OpenMetadata's ingestion images run one container, ``main``: ``python main.py`` for pipelines
(reading ``config``, ``pipelineType``, ``pipelineRunId`` and ``ingestionPipelineFQN`` from the
environment) and ``python run_automation.py`` for test connection (``config`` holds the
automations Workflow entity). Both commands come from settings.

``config`` carries the ingestion bot's token (``securityConfig.jwtToken``), so it is never
written into a Workflow, Job or their cron forms: it lives in a Secret named like the workload
(``config_secret.py``), owned by it (the garbage collector deletes it with its owner), and the
container reads it with ``valueFrom.secretKeyRef``. Who may ``get jobs`` or ``get workflows``
(or read an Argo archive) reads no credential.

Everything here is a pure function of settings (each function takes the group it reads; the
container, which reads several, the whole ``Settings``) and a ``LaunchSpec`` (or a
``ScheduleSpec`` for scheduled pipelines) returning plain dicts in the API server's JSON shape,
so the Workflow and Job builders, ``invoke --dry-run`` and the golden-manifest tests all see
the same bytes.

Labels and annotations make the cluster the durable store of what the runner launched:

=====================================  ================================================
``app.kubernetes.io/managed-by``       ``hybrid-ingestion-runner``
``hybrid-runner.io/agent-id``          the agent id (label-safe form)
``hybrid-runner.io/run-id``            the run id (label-safe form; hashed if it must be)
``hybrid-runner.io/pipeline-type``     ``metadata``, ``profiler``, ``automation``, ...
``hybrid-runner.io/kind``              ``pipeline`` or ``automation``
``hybrid-runner.io/pipeline``          the pipeline FQN (label-safe form), for selection
annotation ``hybrid-runner.io/run-id``        the full run id
annotation ``hybrid-runner.io/pipeline-fqn``  the full pipeline FQN
annotation ``hybrid-runner.io/schedule``      on scheduled runs: the CronWorkflow/CronJob name
=====================================  ================================================

Runs started by a schedule are made by Argo's or Kubernetes' cron controller, which copies the
schedule's ``workflowMetadata`` / ``jobTemplate.metadata`` onto each Workflow/Job: they carry
the agent's labels (so the watch sees them) and the schedule annotation but no run id. Their
run id is the workload's ``metadata.uid``, known only once the controller has made it, and the
ingestion process gets the same one as ``pipelineRunId``, so the server, the runner and the
ingestion's own reports name the run alike: a CronWorkflow's container reads Argo's
``{{workflow.uid}}`` (substituted by the workflow-controller), a CronJob's reads the label
``batch.kubernetes.io/controller-uid`` the Job controller puts on the Job's pods (Downward API).
A pod finds its run through its ownerReference to the Job or Workflow (that label as a
fallback): ``run_id_of``. The workload's name stays the run's ``runName``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runtime.config.connection import ConnectionSettings
from runtime.config.pods import IngestionPodSettings
from runtime.config.proxy import ProxySettings
from runtime.config.workloads import KubernetesExecutorSettings
from runtime.egress import proxy
from runtime.executors.base import LaunchSpec, ScheduleSpec
from runtime.executors.naming import label_value, schedule_name
from runtime.settings import Settings
from runtime.wire.errors import LaunchFailed

MAIN_CONTAINER = "main"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hybrid-ingestion-runner"
AGENT_LABEL = "hybrid-runner.io/agent-id"
RUN_ID_LABEL = "hybrid-runner.io/run-id"
PIPELINE_TYPE_LABEL = "hybrid-runner.io/pipeline-type"
KIND_LABEL = "hybrid-runner.io/kind"
PIPELINE_LABEL = "hybrid-runner.io/pipeline"
RUN_ID_ANNOTATION = "hybrid-runner.io/run-id"
PIPELINE_FQN_ANNOTATION = "hybrid-runner.io/pipeline-fqn"
PIPELINE_TYPE_ANNOTATION = "hybrid-runner.io/pipeline-type"
SCHEDULE_ANNOTATION = "hybrid-runner.io/schedule"
#: The kinds of workload a pod of a run belongs to (its ownerReference).
WORKLOAD_KINDS = ("Job", "Workflow")
#: The Job's uid, which the Job controller puts on every pod of the Job.
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
#: Argo's global variable for the Workflow's uid, substituted in the pod by the controller.
WORKFLOW_UID = "{{workflow.uid}}"

#: The names the ingestion process reads; nothing else may override them.
CONTRACT_ENV = ("config", "pipelineType", "pipelineRunId", "ingestionPipelineFQN")
#: The key of the run's config in its Secret (and the env name the container reads it into).
CONFIG_KEY = "config"
#: What a dry run prints for the Secret's data, and the owner uid it cannot know yet.
#: The pods' proxy credentials: env name, key in the PROXY_CREDENTIALS_SECRET Secret.
PROXY_SECRET_KEYS = (("PROXY_USERNAME", "username"), ("PROXY_PASSWORD", "password"))

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def selector(agent_id: str) -> str:
    """The label selector of everything this agent launched (watches and re-adoption)."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{AGENT_LABEL}={label_value(agent_id or 'default')}"


def check_name(name: str) -> str:
    """``name`` if it is a DNS-1123 label (the deterministic run name always is)."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise ValueError(f"{name!r} is not a valid Kubernetes object name (DNS-1123 label)")
    return name


def _base_labels(
    settings: ConnectionSettings, pipeline_type: str, kind: str, fqn: str
) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        AGENT_LABEL: label_value(settings.agent_id or "default"),
        PIPELINE_TYPE_LABEL: label_value(pipeline_type),
        KIND_LABEL: kind,
        PIPELINE_LABEL: label_value(fqn),
    }


def run_labels(settings: ConnectionSettings, spec: LaunchSpec) -> dict[str, str]:
    out = _base_labels(settings, spec.pipeline_type, spec.kind, spec.pipeline_fqn)
    out[RUN_ID_LABEL] = label_value(spec.run_id)
    return out


def run_annotations(spec: LaunchSpec) -> dict[str, str]:
    return {
        RUN_ID_ANNOTATION: spec.run_id,
        PIPELINE_FQN_ANNOTATION: spec.pipeline_fqn,
        PIPELINE_TYPE_ANNOTATION: spec.pipeline_type,
    }


def schedule_labels(settings: ConnectionSettings, spec: ScheduleSpec) -> dict[str, str]:
    return _base_labels(settings, spec.pipeline_type, spec.kind, spec.pipeline_fqn)


def schedule_annotations(spec: ScheduleSpec) -> dict[str, str]:
    return {
        PIPELINE_FQN_ANNOTATION: spec.pipeline_fqn,
        PIPELINE_TYPE_ANNOTATION: spec.pipeline_type,
        SCHEDULE_ANNOTATION: schedule_name(spec.pipeline_fqn),
    }


def run_id_of(obj: Mapping[str, Any], *, pod: bool = False) -> str | None:
    """The run id of a Workflow/Job (``pod=False``) or of its pod: the run-id annotation, or for
    a run started by a schedule, the workload's uid (see the module docstring)."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    run_id = annotations.get(RUN_ID_ANNOTATION)
    if run_id:
        return str(run_id)
    if not annotations.get(SCHEDULE_ANNOTATION):
        return None
    if not pod:
        uid = metadata.get("uid")
        return str(uid) if uid else None
    for owner in metadata.get("ownerReferences") or []:
        if owner.get("kind") in WORKLOAD_KINDS and owner.get("uid"):
            return str(owner["uid"])
    uid = (metadata.get("labels") or {}).get(JOB_UID_LABEL)
    return str(uid) if uid else None


def literal_run_id(run_id: str) -> dict[str, Any]:
    """The ``pipelineRunId`` entry of a run the runner launches: its id as sent."""
    return {"name": "pipelineRunId", "value": run_id}


def workflow_run_id() -> dict[str, Any]:
    """A scheduled Workflow's ``pipelineRunId``: its uid, filled in by Argo."""
    return {"name": "pipelineRunId", "value": WORKFLOW_UID}


def job_run_id() -> dict[str, Any]:
    """A scheduled Job's ``pipelineRunId``: its uid, from its pod's own label."""
    field = f"metadata.labels['{JOB_UID_LABEL}']"
    return {"name": "pipelineRunId", "valueFrom": {"fieldRef": {"fieldPath": field}}}


def resources(settings: IngestionPodSettings, kind: str) -> dict[str, dict[str, str]]:
    """Requests/limits from INGESTION_* (pipelines) or INGESTION_AUTOMATION_WORKFLOW_*."""
    if kind == "automation":
        cpu_req, cpu_lim = settings.automation_cpu_request, settings.automation_cpu_limit
        mem_req, mem_lim = settings.automation_memory_request, settings.automation_memory_limit
    else:
        cpu_req, cpu_lim = settings.ingestion_cpu_request, settings.ingestion_cpu_limit
        mem_req, mem_lim = settings.ingestion_memory_request, settings.ingestion_memory_limit
    out: dict[str, dict[str, str]] = {}
    requests = {k: v for k, v in (("cpu", cpu_req), ("memory", mem_req)) if v}
    limits = {k: v for k, v in (("cpu", cpu_lim), ("memory", mem_lim)) if v}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env(
    settings: Settings,
    *,
    config_secret: str,
    pipeline_type: str,
    pipeline_fqn: str,
    run_id: dict[str, Any],
    extra: dict[str, str],
) -> list[dict[str, Any]]:
    """The container env: the contract first (``config`` from the Secret ``config_secret``,
    ``run_id`` the ``pipelineRunId`` entry), then the handler's (secrets manager) variables, the
    proxy's (``proxy_env``), then INGESTION_EXTRA_ENVS. A name already set is not set again, so
    neither the request nor the operator's extra variables can replace the contract.
    """
    entries: list[dict[str, Any]] = [
        {
            "name": CONFIG_KEY,
            "valueFrom": {"secretKeyRef": {"name": config_secret, "key": CONFIG_KEY}},
        },
        {"name": "pipelineType", "value": pipeline_type},
        run_id,
        {"name": "ingestionPipelineFQN", "value": pipeline_fqn},
    ]
    entries.extend({"name": name, "value": value} for name, value in extra.items())
    entries.extend(proxy_env(settings))
    entries.extend({"name": n, "value": v} for n, v in settings.ingestion_extra_envs.items())
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        if entry["name"] not in seen:
            seen.add(entry["name"])
            out.append(entry)
    return out


def proxy_env(settings: ProxySettings) -> list[dict[str, Any]]:
    """The egress proxy for the ingestion process (INGESTION_PROXY_ENABLED): both spellings of
    each configured proxy URL, without credentials, and of the effective NO_PROXY (the
    Kubernetes API never goes through the proxy).

    With PROXY_CREDENTIALS_SECRET the credentials come from that Secret by ``secretKeyRef`` as
    PROXY_USERNAME and PROXY_PASSWORD, and the URLs name them as ``$(PROXY_USERNAME)``: the
    kubelet expands a ``$(VAR)`` only for a variable defined earlier in the list, so those two
    come first. No credential is ever written into a manifest."""
    configured = proxy.proxies(settings)
    if not (settings.ingestion_proxy and configured):
        return []
    secret = settings.proxy_credentials_secret
    out: list[dict[str, Any]] = [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for name, key in PROXY_SECRET_KEYS
        if secret
    ]
    for each in configured.values():
        url = each.url_with("$(PROXY_USERNAME)", "$(PROXY_PASSWORD)") if secret else each.url
        out += [
            {"name": each.variable, "value": url},
            {"name": each.variable.lower(), "value": url},
        ]
    no_proxy = proxy.effective_no_proxy(settings).text
    return [*out, {"name": "NO_PROXY", "value": no_proxy}, {"name": "no_proxy", "value": no_proxy}]


def container_security_context(settings: IngestionPodSettings) -> dict[str, Any]:
    """The ``main`` container's hardening. The ids are set on the pod only, so that Argo's
    init and wait containers run as the same user as ``main``."""
    return {
        "runAsNonRoot": settings.ingestion_run_as_non_root,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(settings: IngestionPodSettings) -> dict[str, Any]:
    """Numeric ids by default: OpenMetadata's image ends with ``USER openmetadata``, a named
    user, and the kubelet refuses to start a runAsNonRoot container whose image user is not
    numeric (CreateContainerConfigError). An id left empty is omitted, so OpenShift can assign
    one from the namespace's range."""
    out: dict[str, Any] = {"runAsNonRoot": settings.ingestion_run_as_non_root}
    for key, value in (
        ("runAsUser", settings.ingestion_run_as_user),
        ("runAsGroup", settings.ingestion_run_as_group),
        ("fsGroup", settings.ingestion_fs_group),
    ):
        if value is not None:
            out[key] = value
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return out


def command(settings: KubernetesExecutorSettings, kind: str) -> list[str]:
    return list(settings.automation_command if kind == "automation" else settings.pipeline_command)


def main_container(settings: Settings, spec: LaunchSpec) -> dict[str, Any]:
    """The ``main`` container of one run. It always has a command: without one Argo asks the
    image registry for the entrypoint."""
    return _container(
        settings,
        image=spec.image,
        kind=spec.kind,
        env_list=env(
            settings,
            config_secret=spec.run_name,
            pipeline_type=spec.pipeline_type,
            pipeline_fqn=spec.pipeline_fqn,
            run_id=literal_run_id(spec.run_id),
            extra=spec.env,
        ),
    )


def schedule_container(
    settings: Settings, spec: ScheduleSpec, run_id: dict[str, Any]
) -> dict[str, Any]:
    """The ``main`` container of every run of a schedule; ``run_id`` is the ``pipelineRunId``
    entry that gives each run its workload's uid (``workflow_run_id``, ``job_run_id``)."""
    return _container(
        settings,
        image=spec.image,
        kind=spec.kind,
        env_list=env(
            settings,
            config_secret=schedule_name(spec.pipeline_fqn),
            pipeline_type=spec.pipeline_type,
            pipeline_fqn=spec.pipeline_fqn,
            run_id=run_id,
            extra=spec.env,
        ),
    )


def _container(
    settings: Settings, *, image: str, kind: str, env_list: list[dict[str, Any]]
) -> dict[str, Any]:
    if not image:
        raise LaunchFailed(
            "no ingestion image: INGESTION_IMAGE names no tag and none was derived from the "
            "server's version (DYNAMIC_INGESTION_VERSION_ENABLED is off, or the server reported "
            "no release version); set INGESTION_IMAGE=<repository>:<tag> on the runner or send "
            "`image` with the request"
        )
    out: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": image,
        "command": command(settings, kind),
        "env": env_list,
        "securityContext": container_security_context(settings),
    }
    res = resources(settings, kind)
    if res:
        out["resources"] = res
    return out


def pod_fields(settings: IngestionPodSettings) -> dict[str, Any]:
    """Pod-level fields shared by both executors (Workflow spec and Job pod template accept
    them under the same names)."""
    out: dict[str, Any] = {}
    if settings.ingestion_service_account:
        out["serviceAccountName"] = settings.ingestion_service_account
    out["automountServiceAccountToken"] = settings.ingestion_automount_sa_token
    if settings.ingestion_image_pull_secrets:
        out["imagePullSecrets"] = [{"name": n} for n in settings.ingestion_image_pull_secrets]
    out["securityContext"] = pod_security_context(settings)
    return out
