"""What the ``argo`` and ``simpleK8s`` executors share: launch, kill, the watch-backed run table,
diagnostics, logs, re-adoption and scheduled pipelines. Subclasses say how to build, create,
read, stop and interpret their workload (a Workflow or a Job) and its schedule (a CronWorkflow
or a CronJob); everything else is here.

State flow::

    launch() --create--> API server <--watch-- ResourceWatcher(workloads) --+
                               ^      <--watch-- ResourceWatcher(pods) ------+--> _refresh(run)
                               |                                             |      |
    kill()  --patch/delete-----+          DiagnosisTracker (grace periods) --+      v
                                                                           RunTable.put
                                                                (listeners: run_update, metrics)

A run's record combines what its workload says (``ObjectState``: phase or Job conditions) with
what its pod shows (``Diagnosis``: Unschedulable, ImagePullBackOff, OOMKilled, ...). Once a
record is final its state, reason and message never change again. When a diagnosis is fatal
(an image that cannot be pulled for ``Grace.image_pull`` seconds) the runner also ends the
workload, recording the reason in annotations so that a restarted runner re-adopts it with
the same reason. The tail of the ``main`` container's log is captured as soon as the pod
finishes, before TTLs or pod GC remove it, and kept (bounded) in ``record.extra["log_tail"]``.

Logs: ``logs(run_id, after)`` reads the live log of the run's pod (up to ``max_log_bytes``)
while the pod exists, else the captured tail, and returns one chunk of at most
``log_chunk_bytes`` from byte offset ``after``.

Schedules: ``deploy_schedule`` creates the CronWorkflow/CronJob under a name derived from the
pipeline FQN; on 409 it checks the existing one is this agent's schedule of that pipeline and
replaces its spec with a JSON patch (only ``create``, ``get`` and ``patch`` are needed, no
``update``). ``toggle_schedule`` merge-patches ``spec.suspend``. ``delete_pipeline`` deletes
the schedule with ``propagationPolicy: Orphan`` (the cron controllers own their runs, and the
default cascade would take active runs along), then lists the pipeline's Workflows/Jobs by
label and deletes the finished ones, one by one (no ``deletecollection``: a label selector
cannot tell finished from active). Runs a schedule starts are tracked like any other: see
``k8s_pod.run_id_of``.

Re-adoption: ``start()`` lists this agent's pods and workloads (label selector managed-by +
agent-id), rebuilds the table from labels, annotations and status, then starts the watch
threads; ``ready`` turns true only once a list of workloads has succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar, Self

import attrs
from kubernetes import client as k8s

from runtime.errors import Conflict, LaunchFailed, NotFound, RunnerError
from runtime.executors.base import (
    FAILED,
    FINAL_STATES,
    LOG_CHUNK_BYTES,
    QUEUED,
    RUNNING,
    STOPPED,
    LaunchSpec,
    LogChunk,
    PipelineDeletion,
    ScheduleRef,
    ScheduleSpec,
    log_chunk,
)
from runtime.executors.k8s_client import KubeCaller, LazyApiClient, Op, get_path, to_dict
from runtime.executors.k8s_diagnostics import Diagnosis, DiagnosisTracker, Grace, PodView
from runtime.executors.k8s_pod import (
    AGENT_LABEL,
    KIND_LABEL,
    MAIN_CONTAINER,
    PIPELINE_FQN_ANNOTATION,
    PIPELINE_LABEL,
    PIPELINE_TYPE_ANNOTATION,
    PIPELINE_TYPE_LABEL,
    RUN_ID_ANNOTATION,
    run_id_of,
    schedule_name,
    selector,
)
from runtime.executors.k8s_watch import RawWatch, ResourceWatcher
from runtime.executors.scheduling import unused_variables
from runtime.executors.table import RunRecord, RunTable
from runtime.naming import label_value
from runtime.settings import Settings

log = logging.getLogger(__name__)

FAILURE_REASON_ANNOTATION = "hybrid-runner.io/failure-reason"
FAILURE_MESSAGE_ANNOTATION = "hybrid-runner.io/failure-message"
KILLED = "Killed"
#: Workload reasons that say less than the pod's own diagnosis.
GENERIC_REASONS = frozenset({"Failed", "Error", "BackoffLimitExceeded", "PodFailed"})
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


@attrs.frozen(kw_only=True)
class ObjectState:
    """What a Workflow or Job says about its run."""

    state: str
    reason: str | None = None
    message: str | None = None
    start_date: int | None = None
    end_date: int | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@attrs.frozen(kw_only=True)
class RunMeta:
    """A run's identity, from the labels and annotations of its workload."""

    run_id: str
    run_name: str
    pipeline_fqn: str
    pipeline_type: str
    kind: str

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> RunMeta | None:
        run_id = run_id_of(obj)
        name = get_path(obj, "metadata", "name")
        if not run_id or not name:
            return None
        annotations = get_path(obj, "metadata", "annotations") or {}
        labels = get_path(obj, "metadata", "labels") or {}
        return cls(
            run_id=str(run_id),
            run_name=str(name),
            pipeline_fqn=str(annotations.get(PIPELINE_FQN_ANNOTATION, "")),
            pipeline_type=str(
                annotations.get(PIPELINE_TYPE_ANNOTATION) or labels.get(PIPELINE_TYPE_LABEL, "")
            ),
            kind=str(labels.get(KIND_LABEL, "pipeline")),
        )

    @classmethod
    def from_spec(cls, spec: LaunchSpec) -> RunMeta:
        return cls(
            run_id=spec.run_id,
            run_name=spec.run_name,
            pipeline_fqn=spec.pipeline_fqn,
            pipeline_type=spec.pipeline_type,
            kind=spec.kind,
        )


def replacement_patch(existing: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902) making ``existing`` carry ``body``'s spec, labels and annotations:
    the spec is replaced whole, labels and annotations are set key by key (the controllers' own
    annotations stay)."""
    ops: list[dict[str, Any]] = [{"op": "replace", "path": "/spec", "value": body["spec"]}]
    for field in ("labels", "annotations"):
        wanted = dict(body["metadata"].get(field) or {})
        if not isinstance(get_path(existing, "metadata", field), dict):
            ops.append({"op": "add", "path": f"/metadata/{field}", "value": wanted})
            continue
        for key, value in wanted.items():
            pointer = key.replace("~", "~0").replace("/", "~1")
            ops.append({"op": "add", "path": f"/metadata/{field}/{pointer}", "value": value})
    return ops


def failure_annotations(diagnosis: Diagnosis) -> dict[str, str]:
    return {
        FAILURE_REASON_ANNOTATION: diagnosis.reason,
        FAILURE_MESSAGE_ANNOTATION: diagnosis.message[:1000],
    }


def annotated_failure(obj: dict[str, Any]) -> tuple[str, str] | None:
    """The failure the runner recorded on the object when it ended it, if any."""
    reason = get_path(obj, "metadata", "annotations", FAILURE_REASON_ANNOTATION)
    if not reason:
        return None
    message = get_path(obj, "metadata", "annotations", FAILURE_MESSAGE_ANNOTATION) or reason
    return str(reason), str(message)


class KubeExecutor:
    """Base of ArgoExecutor and SimpleK8sExecutor (see the module docstring)."""

    name: str = ""
    supports_schedules: bool = True
    #: For messages and RBAC errors, e.g. ``workflows.argoproj.io``.
    resource: ClassVar[str] = ""
    #: What the workload is called in messages: ``Workflow`` or ``Job``.
    kind_name: ClassVar[str] = ""
    #: The same for scheduled pipelines: ``cronworkflows.argoproj.io``, ``CronWorkflow``.
    schedule_resource: ClassVar[str] = ""
    schedule_kind_name: ClassVar[str] = ""

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Self:
        """Build the executor from settings: the subclass validates its own variables (a
        ``ConfigError`` names the variable), and every scheduling variable that has no effect
        with this executor is logged as a warning. No cluster is contacted until ``start()``
        or the first launch, so dry runs work anywhere."""
        executor = cls(settings, **options)
        for warning in unused_variables(cls.name, settings):
            log.warning(warning)
        return executor

    def __init__(
        self,
        settings: Settings,
        *,
        api_client: k8s.ApiClient | None = None,
        core_api: Any = None,
        caller: KubeCaller | None = None,
        grace: Grace | None = None,
        active_deadline_seconds: int | None = None,
        terminate_on_failure: bool = True,
        watch_timeout: int = 300,
        resync_seconds: float = 900.0,
        watch_backoff: float = 1.0,
        watch_max_backoff: float = 8.0,
        watch_factory: Callable[[], Any] = RawWatch,
        housekeeping_seconds: float = 5.0,
        retain_deleted_seconds: float = 3600.0,
        vanish_grace_seconds: float = 30.0,
        log_tail_lines: int = 200,
        log_tail_bytes: int = 64 * 1024,
        max_log_bytes: int = 8 * 1024 * 1024,
        log_chunk_bytes: int = LOG_CHUNK_BYTES,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.namespace = settings.ingestion_namespace
        self.label_selector = selector(settings.agent_id)
        self.table = RunTable()
        self.active_deadline_seconds = active_deadline_seconds
        self.terminate_on_failure = terminate_on_failure
        self._clients = LazyApiClient(api_client)
        self._core_api = core_api
        self._caller = caller or KubeCaller()
        # A launch that gets through after an outage ends the watches' backoff at once.
        self._caller.on_recovery(self._nudge_watchers)
        self._tracker = DiagnosisTracker(grace or Grace(), monotonic)
        self._watch_options: dict[str, Any] = {
            "watch_timeout": watch_timeout,
            "stall_timeout": float(settings.watch_stall_seconds),
            "resync_seconds": resync_seconds,
            "backoff": watch_backoff,
            "max_backoff": watch_max_backoff,
            "watch_factory": watch_factory,
            "clock": monotonic,
        }
        self._housekeeping_seconds = housekeeping_seconds
        self._retain_deleted = retain_deleted_seconds
        self._vanish_grace = vanish_grace_seconds
        self.log_tail_lines = log_tail_lines
        self.log_tail_bytes = log_tail_bytes
        self.max_log_bytes = max_log_bytes
        self.log_chunk_bytes = log_chunk_bytes
        self._clock = clock
        self._monotonic = monotonic

        self._lock = threading.RLock()
        self._meta: dict[str, RunMeta] = {}
        self._objects: dict[str, ObjectState] = {}
        self._pods: dict[str, PodView] = {}
        #: True once a pod list succeeded: from then on a run without a pod has none yet.
        self._pods_listed = False
        self._seen_at: dict[str, float] = {}
        self._pod_seen_at: dict[str, float] = {}
        self._deleted_at: dict[str, float] = {}
        self._killing: dict[str, str] = {}
        self._ended: set[str] = set()
        self._captured: set[str] = set()
        self._ready = False
        self._started = False
        self._watchers: list[ResourceWatcher] = []
        self._workload_watcher: ResourceWatcher | None = None
        self._pod_watcher: ResourceWatcher | None = None
        self._stopping = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{self.name}-aux")
        self._futures: set[Future[None]] = set()
        self._futures_lock = threading.Lock()

    # -- what subclasses provide ---------------------------------------------------------

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        """The workload manifest of one run (pure)."""
        raise NotImplementedError

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _read(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def _workload_list(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The list function (and its leading arguments) that the workload watch uses."""
        raise NotImplementedError

    def object_state(self, obj: dict[str, Any]) -> ObjectState:
        raise NotImplementedError

    def _kill_workload(self, run_id: str, name: str, **options: Any) -> bool:
        """Stop the workload; True when it is gone already (the run is stopped now)."""
        raise NotImplementedError

    def _end_workload(self, name: str, diagnosis: Diagnosis) -> None:
        """End a workload whose pod cannot succeed, recording why on the object."""
        raise NotImplementedError

    def _health_extra(self) -> dict[str, str]:
        return {}

    def _delete_workload(self, name: str) -> None:
        """Delete a finished run's Workflow/Job and its pods."""
        raise NotImplementedError

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        """The CronWorkflow/CronJob manifest of a scheduled pipeline (pure)."""
        raise NotImplementedError

    def _create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _read_schedule(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def _patch_schedule(self, name: str, body: Any, content_type: str) -> None:
        raise NotImplementedError

    def _delete_schedule(self, name: str) -> None:
        """Delete the schedule, orphaning the runs it started."""
        raise NotImplementedError

    # -- API objects -----------------------------------------------------------------------

    @property
    def core_api(self) -> Any:
        if self._core_api is None:
            self._core_api = k8s.CoreV1Api(self._clients.get())
        return self._core_api

    def _call(
        self,
        verb: str,
        fn: Callable[..., Any],
        *args: Any,
        resource: str | None = None,
        target: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """One API call through the caller; ``target`` (else the ``name`` argument) names the
        object in error messages."""
        op = Op(verb, resource or self.resource, self.namespace, target or kwargs.get("name"))
        return self._caller(op, fn, *args, **kwargs)

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        return [self.build(spec)]

    def launch(self, spec: LaunchSpec) -> None:
        body = self.build(spec)
        try:
            obj = self._create_or_adopt(spec, body)
        except RunnerError as exc:
            if not exc.retryable:
                self._launch_refused(spec, exc)
            raise
        meta = RunMeta.from_spec(spec)
        with self._lock:
            self._meta.setdefault(spec.run_id, meta)
            if self.table.get(spec.run_id) is None or spec.run_id not in self._objects:
                self._observe_workload(obj, meta=meta)
            if self.table.get(spec.run_id) is None:  # pragma: no cover - defensive
                self.table.put(self._new_record(meta, ObjectState(state=QUEUED), spec.run_name))

    def _launch_refused(self, spec: LaunchSpec, exc: RunnerError) -> None:
        """A create refused for good (RBAC, missing namespace or CRD, a foreign object): the
        run is failed, so the server hears it as a run_update too, and the same run id is not
        launched again; the record is forgotten like a deleted run's."""
        now = self._now_ms()
        record = self._new_record(
            RunMeta.from_spec(spec),
            ObjectState(
                state=FAILED,
                reason=type(exc).__name__,
                message=exc.message,
                start_date=now,
                end_date=now,
            ),
            spec.run_name,
        )
        with self._lock:
            if self.table.get(spec.run_id) is not None:
                return
            self.table.put(record)
            self._deleted_at[spec.run_id] = self._monotonic()

    def _create_or_adopt(self, spec: LaunchSpec, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        try:
            obj = self._create(body)
        except Conflict:
            # A re-sent request, or a retry after a timeout that had in fact created it.
            try:
                obj = self._read(name)
            except NotFound:
                # Deleted between our create and our read (a TTL): create it once more.
                obj = self._create(body)
            owner = get_path(obj, "metadata", "annotations", RUN_ID_ANNOTATION)
            if owner != spec.run_id:
                raise Conflict(
                    f"{self.kind_name} {name} in namespace {self.namespace} exists but belongs "
                    f"to run {owner!r}, not {spec.run_id!r}"
                ) from None
            log.info("adopted existing %s %s for run %s", self.kind_name, name, spec.run_id)
        except NotFound as exc:
            # A create answered 404: the namespace, or for Argo the CRD, does not exist.
            raise LaunchFailed(f"cannot create {self.kind_name} {name}: {exc.message}") from None
        return obj

    def kill(self, run_id: str) -> None:
        self._kill(run_id)

    def _kill(self, run_id: str, **options: Any) -> None:
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        if record.final:
            return
        name = str(record.extra.get("name") or record.run_name)
        with self._lock:
            self._killing[run_id] = "kill"
        try:
            gone = self._kill_workload(run_id, name, **options)
        except NotFound:
            gone = True
        except BaseException:
            with self._lock:
                self._killing.pop(run_id, None)
            raise
        if gone:
            self._mark_stopped(run_id, f"{self.kind_name} {name} deleted on request")

    def logs(self, run_id: str, after: int = 0) -> LogChunk:
        """The run's ``main`` container log from byte ``after``: live from its pod while the pod
        exists (up to ``max_log_bytes``), else the tail captured when it finished."""
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        final = record.final  # before the log: a final run writes nothing more
        text: str | None = None
        with self._lock:
            pod = self._pods.get(run_id)
        if pod is not None and not pod.deleted:
            try:
                text = str(
                    self._call(
                        "get",
                        self.core_api.read_namespaced_pod_log,
                        name=pod.name,
                        namespace=self.namespace,
                        container=MAIN_CONTAINER,
                        limit_bytes=self.max_log_bytes,
                        resource="pods/log",
                    )
                )
            except RunnerError as exc:
                log.debug("live log of %s unavailable: %s", pod.name, exc)
        if text is None:
            latest = self.table.get(run_id) or record
            text = str(latest.extra.get("log_tail") or "")
        data = text.encode("utf-8", "replace")
        start = max(0, after)
        window = data[start : start + self.log_chunk_bytes]
        return log_chunk(
            window, start=start, total=len(data), final=final, limit=self.log_chunk_bytes
        )

    # -- scheduled pipelines (deploy_pipeline, toggle_pipeline, delete_pipeline) ---------------

    def render_schedule(self, spec: ScheduleSpec) -> list[dict[str, Any]]:
        return [self.build_schedule(spec)]

    def deploy_schedule(self, spec: ScheduleSpec) -> ScheduleRef:
        """Create the schedule; if its deterministic name exists (a re-deploy, a re-sent
        request), replace its spec in place with a JSON patch (so fields dropped from the new
        manifest go too) after checking it is this agent's schedule of this pipeline."""
        body = self.build_schedule(spec)
        name = body["metadata"]["name"]
        kind = self.schedule_kind_name
        try:
            self._create_schedule(body)
            log.info("created %s %s for pipeline %s", kind, name, spec.pipeline_fqn)
        except Conflict:
            try:
                existing = self._owned_schedule(name, spec.pipeline_fqn)
            except NotFound:
                # Deleted between our create and our read: create it once more.
                self._create_schedule(body)
            else:
                self._patch_schedule(name, replacement_patch(existing, body), JSON_PATCH)
                log.info("updated %s %s for pipeline %s", kind, name, spec.pipeline_fqn)
        except NotFound as exc:
            raise LaunchFailed(
                f"cannot create {kind} {name} in namespace {self.namespace}: {exc.message}"
            ) from None
        return ScheduleRef(name=name, enabled=spec.enabled)

    def toggle_schedule(
        self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False
    ) -> ScheduleRef:
        name = schedule_name(pipeline_fqn)
        try:
            self._owned_schedule(name, pipeline_fqn)
            if not dry_run:
                self._patch_schedule(name, {"spec": {"suspend": not enabled}}, MERGE_PATCH)
        except NotFound:
            raise NotFound(self._no_schedule(pipeline_fqn, name)) from None
        log.info("%s %s %s", "resumed" if enabled else "suspended", self.schedule_kind_name, name)
        return ScheduleRef(name=name, enabled=enabled)

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        """Delete the schedule (orphaning its runs: the cron controllers own them and would
        otherwise take active ones along), then every finished run of the pipeline."""
        name = schedule_name(pipeline_fqn)
        deleted: list[str] = []
        kept: list[str] = []
        try:
            self._owned_schedule(name, pipeline_fqn)
        except NotFound:
            has_schedule = False
        else:
            has_schedule = True
            if not dry_run:
                try:
                    self._delete_schedule(name)
                except NotFound:
                    pass
            deleted.append(name)
        runs = self._pipeline_workloads(pipeline_fqn)
        for obj in runs:
            obj_name = str(get_path(obj, "metadata", "name"))
            run_id = run_id_of(obj)
            record = self.table.get(run_id) if run_id else None
            if not (self.object_state(obj).final or (record is not None and record.final)):
                kept.append(obj_name)
                continue
            if not dry_run:
                try:
                    self._delete_workload(obj_name)
                except NotFound:
                    pass  # its TTL was quicker
            deleted.append(obj_name)
        if not has_schedule and not runs:
            raise NotFound(f"pipeline {pipeline_fqn!r} has no schedule and no runs on this runner")
        log.info(
            "deleted pipeline %s: %d object(s) removed, %d active run(s) kept",
            pipeline_fqn,
            len(deleted),
            len(kept),
        )
        return PipelineDeletion(deleted=deleted, kept=kept)

    def _pipeline_workloads(self, pipeline_fqn: str) -> list[dict[str, Any]]:
        """This agent's Workflows/Jobs of one pipeline, by label (an API list: the objects
        themselves, including ones whose records the table has already forgotten)."""
        list_fn, list_args = self._workload_list()
        result = to_dict(
            self._call(
                "list",
                list_fn,
                *list_args,
                label_selector=f"{self.label_selector},{PIPELINE_LABEL}={label_value(pipeline_fqn)}",
            )
        )
        items = [to_dict(item) for item in result.get("items") or []]
        # The label may be a hash of the FQN: the annotation has the full name.
        mine = [
            obj
            for obj in items
            if get_path(obj, "metadata", "annotations", PIPELINE_FQN_ANNOTATION) == pipeline_fqn
        ]
        return sorted(mine, key=lambda obj: str(get_path(obj, "metadata", "name")))

    def _owned_schedule(self, name: str, pipeline_fqn: str) -> dict[str, Any]:
        """The schedule object, if it is this agent's schedule of ``pipeline_fqn``."""
        obj = self._read_schedule(name)
        agent = get_path(obj, "metadata", "labels", AGENT_LABEL)
        fqn = get_path(obj, "metadata", "annotations", PIPELINE_FQN_ANNOTATION)
        if agent != label_value(self.settings.agent_id or "default") or fqn != pipeline_fqn:
            raise Conflict(
                f"{self.schedule_kind_name} {name} in namespace {self.namespace} exists but "
                f"belongs to pipeline {fqn!r} of agent {agent!r}, not to {pipeline_fqn!r} of "
                "this runner"
            )
        return obj

    def _no_schedule(self, pipeline_fqn: str, name: str) -> str:
        return (
            f"pipeline {pipeline_fqn!r} has no schedule on this runner ({self.schedule_kind_name} "
            f"{name} not found in namespace {self.namespace})"
        )

    def health(self) -> dict[str, str]:
        out = {"kubernetes": self._watcher_health(self._workload_watcher)}
        out.update(self._health_extra())
        return out

    def _watcher_health(self, watcher: ResourceWatcher | None) -> str:
        if watcher is None:
            return "not started"
        if watcher.healthy:
            return "ok"
        return f"unavailable: {watcher.last_error or 'connecting'}"

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self._start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop_sync)

    # -- start / stop ------------------------------------------------------------------------

    def _make_watchers(self) -> None:
        list_fn, list_args = self._workload_list()
        self._workload_watcher = ResourceWatcher(
            name=f"{self.name}-{self.kind_name.lower()}s",
            list_fn=list_fn,
            list_args=list_args,
            namespace=self.namespace,
            resource=self.resource,
            label_selector=self.label_selector,
            on_sync=self._sync_workloads,
            on_event=self._workload_event,
            caller=self._caller,
            **self._watch_options,
        )
        self._pod_watcher = ResourceWatcher(
            name=f"{self.name}-pods",
            list_fn=self.core_api.list_namespaced_pod,
            list_args=(self.namespace,),
            namespace=self.namespace,
            resource="pods",
            label_selector=self.label_selector,
            on_sync=self._sync_pods,
            on_event=self._pod_event,
            caller=self._caller,
            **self._watch_options,
        )
        self._watchers = [self._pod_watcher, self._workload_watcher]

    def _nudge_watchers(self) -> None:
        for watcher in self._watchers:
            watcher.nudge()

    def _start_sync(self) -> None:
        self._make_watchers()
        # Pods first: the workloads' records are then built with their diagnostics.
        for watcher in self._watchers:
            try:
                watcher.list_now()
            except RunnerError as exc:
                # The watch thread keeps retrying; ``ready`` waits for a successful list.
                log.error("re-adoption: cannot list %s yet: %s", watcher.resource, exc)
        for watcher in self._watchers:
            watcher.start()
        self._stopping.clear()
        self._housekeeper = threading.Thread(
            target=self._housekeeping_loop, name=f"{self.name}-housekeeping", daemon=True
        )
        self._housekeeper.start()
        log.info(
            "%s executor watching %s in namespace %s (%d runs re-adopted, ready=%s)",
            self.name,
            self.resource,
            self.namespace,
            len(self.table),
            self._ready,
        )

    def _stop_sync(self) -> None:
        self._stopping.set()
        for watcher in self._watchers:
            watcher.stop(timeout=5.0)
        if self._housekeeper is not None:
            self._housekeeper.join(5.0)
            self._housekeeper = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._started = False

    # -- watch callbacks -----------------------------------------------------------------------

    def _sync_workloads(self, items: list[dict[str, Any]]) -> None:
        now = self._monotonic()
        seen: set[str] = set()
        with self._lock:
            for obj in items:
                meta = RunMeta.from_object(obj)
                if meta is None:
                    continue
                seen.add(meta.run_id)
                self._observe_workload(obj, meta=meta)
            for run_id in list(self._objects):
                if run_id in seen or run_id in self._deleted_at:
                    continue
                if now - self._seen_at.get(run_id, now) >= self._vanish_grace:
                    self._workload_gone(run_id)
        self._ready = True

    def _workload_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = RunMeta.from_object(obj)
        if meta is None:
            return
        with self._lock:
            if kind == "DELETED":
                self._meta.setdefault(meta.run_id, meta)
                self._objects.setdefault(meta.run_id, self.object_state(obj))
                self._workload_gone(meta.run_id)
            else:
                self._observe_workload(obj, meta=meta)

    def _sync_pods(self, items: list[dict[str, Any]]) -> None:
        now = self._monotonic()
        seen: set[str] = set()
        with self._lock:
            self._pods_listed = True
            for pod in items:
                view = PodView.from_pod(pod)
                if view.run_id is None:
                    continue
                seen.add(view.run_id)
                self._observe_pod(view)
            for run_id, view in list(self._pods.items()):
                if run_id in seen or view.deleted:
                    continue
                if now - self._pod_seen_at.get(run_id, now) >= self._vanish_grace:
                    self._observe_pod(attrs.evolve(view, deleted=True))

    def _pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        view = PodView.from_pod(pod, deleted=kind == "DELETED")
        if view.run_id is None:
            return
        with self._lock:
            known = self._pods.get(view.run_id)
            if view.deleted and known is not None and known.name != view.name:
                return  # an older pod of the run went away; the newer one is what counts
            self._observe_pod(view)

    # -- state -------------------------------------------------------------------------------

    def _observe_workload(self, obj: dict[str, Any], *, meta: RunMeta | None = None) -> None:
        meta = meta or RunMeta.from_object(obj)
        if meta is None:
            return
        with self._lock:
            self._meta[meta.run_id] = meta
            self._objects[meta.run_id] = self.object_state(obj)
            self._seen_at[meta.run_id] = self._monotonic()
            self._deleted_at.pop(meta.run_id, None)
            self._refresh(meta.run_id)

    def _observe_pod(self, view: PodView) -> None:
        assert view.run_id is not None
        with self._lock:
            self._pods[view.run_id] = view
            self._pod_seen_at[view.run_id] = self._monotonic()
            self._refresh(view.run_id)

    def _workload_gone(self, run_id: str) -> None:
        """The Workflow/Job was deleted (TTL, kill, or someone with kubectl)."""
        with self._lock:
            self._deleted_at[run_id] = self._monotonic()
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            if run_id in self._killing:
                self._mark_stopped(run_id, f"{self.kind_name} {record.run_name} deleted on request")
                return
            self.table.put(
                attrs.evolve(
                    record,
                    state=FAILED,
                    reason="Deleted",
                    message=f"{self.kind_name} {record.run_name} was deleted before the run "
                    "finished",
                    end_date=self._now_ms(),
                )
            )

    def _mark_stopped(self, run_id: str, message: str) -> None:
        with self._lock:
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            self.table.put(
                attrs.evolve(
                    record, state=STOPPED, reason=KILLED, message=message, end_date=self._now_ms()
                )
            )

    def _new_record(self, meta: RunMeta, state: ObjectState, name: str) -> RunRecord:
        return RunRecord(
            run_id=meta.run_id,
            run_name=meta.run_name,
            pipeline_fqn=meta.pipeline_fqn,
            pipeline_type=meta.pipeline_type,
            kind=meta.kind,
            state=state.state,
            reason=state.reason,
            message=state.message,
            start_date=state.start_date,
            end_date=state.end_date,
            extra={"name": name},
        )

    def _refresh(self, run_id: str) -> None:
        """Recompute one run's record from its workload and pod (caller holds the lock)."""
        meta = self._meta.get(run_id)
        obj = self._objects.get(run_id)
        if meta is None or obj is None:
            return  # a pod seen before its workload: wait for the workload
        pod = self._pods.get(run_id)
        diagnosis = self._tracker.observe(run_id, pod)
        old = self.table.get(run_id)
        state, reason, message = obj.state, obj.reason, obj.message
        end = obj.end_date
        fatal = False
        if obj.final:
            if (
                state == FAILED
                and diagnosis is not None
                and diagnosis.fatal
                and (reason is None or reason in GENERIC_REASONS)
            ):
                reason, message = diagnosis.reason, diagnosis.message
        elif diagnosis is not None and diagnosis.fatal and run_id in self._killing:
            # The pod died of our own kill (e.g. exit 143) before the workload's phase moved.
            state, reason, message = STOPPED, "Killed", "stopped by a kill request"
            end = end or self._now_ms()
        elif diagnosis is not None and diagnosis.fatal:
            state, reason, message = FAILED, diagnosis.reason, diagnosis.message
            end = end or self._now_ms()
            fatal = True
        else:
            if pod is not None and not pod.deleted:
                if pod.phase == "Pending" and state == RUNNING:
                    state = QUEUED
                elif pod.phase == "Running" and state == QUEUED:
                    state = RUNNING
            elif pod is None and state == RUNNING and self._pods_listed:
                # Argo marks a Workflow Running (and a Job counts a pod active) before the pod
                # is scheduled: until its pod is seen the run is still queued, else the server
                # would see running -> queued -> running.
                state = QUEUED
            if diagnosis is not None:
                reason, message = diagnosis.reason, diagnosis.message
        if state in FINAL_STATES and end is None:
            end = self._now_ms()
        start = obj.start_date or (pod.started_ms if pod is not None else None)
        extra = dict(old.extra) if old is not None else {}
        extra["name"] = meta.run_name
        if pod is not None:
            extra["pod"] = pod.name
        if old is not None and old.final:
            new = attrs.evolve(
                old,
                start_date=old.start_date or start,
                end_date=old.end_date or end,
                extra=extra,
            )
        else:
            new = RunRecord(
                run_id=meta.run_id,
                run_name=meta.run_name,
                pipeline_fqn=meta.pipeline_fqn,
                pipeline_type=meta.pipeline_type,
                kind=meta.kind,
                state=state,
                reason=reason,
                message=message,
                start_date=start,
                end_date=end if state in FINAL_STATES else None,
                extra=extra,
            )
        self.table.put(new)
        if new.final:
            self._tracker.forget(run_id)
            self._killing.pop(run_id, None)
        if fatal and diagnosis is not None and self.terminate_on_failure:
            self._end_later(run_id, meta.run_name, diagnosis)
        if pod is not None and not pod.deleted and (pod.finished or pod.main_terminated):
            self._capture_later(run_id, pod)

    # -- background work -------------------------------------------------------------------

    def _end_later(self, run_id: str, name: str, diagnosis: Diagnosis) -> None:
        if run_id in self._ended:
            return
        self._ended.add(run_id)

        def end() -> None:
            try:
                self._end_workload(name, diagnosis)
                log.info("ended %s %s: %s", self.kind_name, name, diagnosis.message)
            except NotFound:
                pass
            except RunnerError as exc:
                log.warning(
                    "could not end %s %s (%s): %s", self.kind_name, name, diagnosis.reason, exc
                )

        self._submit(end)

    def _capture_later(self, run_id: str, pod: PodView) -> None:
        if pod.name in self._captured:
            return
        self._captured.add(pod.name)
        self._submit(lambda: self.capture_log_tail(run_id, pod.name))

    def _submit(self, fn: Callable[[], None]) -> None:
        try:
            future = self._pool.submit(fn)
        except RuntimeError:  # shut down: run inline rather than lose it
            fn()
            return
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for background work (log captures, ending failed workloads); True if done."""
        with self._futures_lock:
            pending = list(self._futures)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def capture_log_tail(self, run_id: str, pod_name: str) -> None:
        """Keep the last lines of ``main``'s log in the record (bounded)."""
        try:
            text = self._call(
                "get",
                self.core_api.read_namespaced_pod_log,
                name=pod_name,
                namespace=self.namespace,
                container=MAIN_CONTAINER,
                tail_lines=self.log_tail_lines,
                limit_bytes=self.log_tail_bytes,
                resource="pods/log",
            )
        except RunnerError as exc:
            log.debug("no log tail for pod %s: %s", pod_name, exc)
            return
        tail = str(text or "")[-self.log_tail_bytes :]
        with self._lock:
            record = self.table.get(run_id)
            if record is not None:
                self.table.put(attrs.evolve(record, extra={**record.extra, "log_tail": tail}))

    def _housekeeping_loop(self) -> None:
        while not self._stopping.wait(self._housekeeping_seconds):
            try:
                self.housekeeping()
            except Exception:  # pragma: no cover - keep the loop alive
                log.exception("%s housekeeping failed", self.name)

    def housekeeping(self) -> None:
        """Let grace periods run out, and forget runs whose workload is long gone."""
        with self._lock:
            for run_id in self._tracker.waiting():
                self._refresh(run_id)
            now = self._monotonic()
            for run_id, deleted in list(self._deleted_at.items()):
                record = self.table.get(run_id)
                if record is not None and not record.final:
                    continue
                if now - deleted >= self._retain_deleted:
                    self._forget(run_id)

    def _forget(self, run_id: str) -> None:
        self.table.remove(run_id)
        self._meta.pop(run_id, None)
        self._objects.pop(run_id, None)
        self._seen_at.pop(run_id, None)
        self._pod_seen_at.pop(run_id, None)
        self._deleted_at.pop(run_id, None)
        self._killing.pop(run_id, None)
        pod = self._pods.pop(run_id, None)
        if pod is not None:
            self._captured.discard(pod.name)
        self._ended.discard(run_id)
        self._tracker.forget(run_id)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
