"""The ``argo`` and ``simpleK8s`` executors: one ``KubeExecutor``, built with a ``Workload``
(``k8s_resources``; ``argo.ArgoWorkflows`` or ``simple_k8s.Jobs``: how to build, read, stop and
interpret a Workflow or a Job and its CronWorkflow or CronJob, the only difference between the
two) and owning a ``RunTracker`` (``k8s_tracking``: every run's state, fed by the watches).
The executor talks to the API server (launch, kill, logs, re-adoption, scheduled pipelines in
``k8s_schedules``) and tells its tracker what happened.

State flow::

    launch() --create--> API server <--watch-- ResourceWatcher(workloads) --+
                               ^      <--watch-- ResourceWatcher(pods) ------+--> tracker
                               |                                             |      |
    kill()  --patch/delete-----+          DiagnosisTracker (grace periods) --+      v
                                                        RunTracker: reconcile -> RunTable.put
                                                                (listeners: run_update, metrics)

Everything known about a run is one ``TrackedRun`` in the tracker, forgotten in one place.
When a diagnosis is fatal (an image that cannot be pulled for ``Grace.image_pull`` seconds) the
runner also ends the workload, recording the reason in annotations so that a restarted runner
re-adopts it with the same reason. Log tails are captured as soon as the pod finishes.

Re-adoption: ``start()`` lists this agent's pods and workloads (label selector managed-by +
agent-id), rebuilds the table from labels, annotations and status, then starts the watch
threads; ``ready`` turns true only once a list of workloads has succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from runtime.config.capacity import CapacitySettings
from runtime.config.pods import IngestionPodSettings
from runtime.config.workloads import KubernetesExecutorSettings
from runtime.executors.admission import QUEUED_AT_ANNOTATION, Limits
from runtime.executors.base import LaunchSpec, LogChunk, PipelineDeletion, ScheduleRef, ScheduleSpec
from runtime.executors.kube.client import LazyApiClient, get_path
from runtime.executors.kube.config_secret import ConfigSecrets
from runtime.executors.kube.diagnostics import Grace
from runtime.executors.kube.logs import PodLogs, chunk
from runtime.executors.kube.pod import RUN_ID_ANNOTATION, selector
from runtime.executors.kube.resources import ResourceApi, Workload
from runtime.executors.kube.schedules import Schedules
from runtime.executors.kube.tracking import RunTracker
from runtime.executors.kube.tuning import Tuning
from runtime.executors.kube.watch import ResourceWatcher, workload_and_pod_watchers
from runtime.executors.scheduling import unused_variables
from runtime.executors.table import RunTable
from runtime.kubeapi.request import KubeApi
from runtime.settings import Settings
from runtime.wire.errors import Conflict, LaunchFailed, NotFound, RunnerError

log = logging.getLogger(__name__)


def warn_unused(name: str, settings: Settings) -> None:
    """Log every scheduling variable that has no effect with executor ``name``."""
    for warning in unused_variables(name, settings):
        log.warning(warning)


def assemble(
    workload: Workload,
    settings: Settings,
    *,
    tuning: Tuning | None = None,
    kube_api: KubeApi | None = None,
) -> KubeExecutor:
    """A ``KubeExecutor`` of ``workload`` from the whole settings (each executor's
    ``from_settings``); the other executor's variables are logged as having no effect."""
    executor = KubeExecutor(
        workload,
        pods=settings,
        kube=settings,
        capacity=settings,
        agent_id=settings.agent_id,
        tuning=tuning,
        kube_api=kube_api,
    )
    warn_unused(workload.name, settings)
    return executor


class KubeExecutor:
    """A Kubernetes executor: its ``Workload`` and its ``RunTracker`` (see the module docstring).

    Built from the settings groups it reads; ``tuning`` holds what is not a setting (timings,
    bounds, clocks); ``kube_api`` (its ``ApiClient``) stands in for the cluster in tests.
    No cluster is contacted until ``start()`` or the first launch, so dry runs work anywhere."""

    supports_schedules: bool = True

    def __init__(
        self,
        workload: Workload,
        *,
        pods: IngestionPodSettings,
        kube: KubernetesExecutorSettings,
        capacity: CapacitySettings,
        agent_id: str,
        tuning: Tuning | None = None,
        kube_api: KubeApi | None = None,
    ) -> None:
        tuning = tuning or Tuning()
        self.workload, self.name = workload, workload.name
        self.kind_name, self.resource = workload.workloads.kind, workload.workloads.rbac
        self.namespace, self.agent_id = pods.ingestion_namespace, agent_id
        self.label_selector = selector(agent_id)
        self._clock, self._stall = tuning.clock, float(kube.watch_stall_seconds)
        self._tuning = tuning
        self.kube = kube_api or KubeApi(LazyApiClient().get)
        # A launch that gets through after an outage ends the watches' backoff at once.
        self.kube.on_recovery(self._nudge_watchers)
        self.api = ResourceApi(self.kube, self.namespace)
        self.configs = ConfigSecrets(self.api, pods)
        self._pod_logs = PodLogs(kube=self.kube, namespace=self.namespace)
        self._pod_logs.set_limits(
            tuning.log_tail_lines, tuning.log_tail_bytes, tuning.max_log_bytes
        )
        self.log_chunk_bytes = tuning.log_chunk_bytes
        self.tracker = RunTracker(
            workload=workload,
            api=self.api,
            limits=Limits.from_settings(capacity),
            grace=tuning.grace or Grace.from_settings(capacity),
            tail=self._pod_logs.tail,
            tuning=tuning,
        )
        self.table: RunTable = self.tracker.table
        self._watchers: list[ResourceWatcher] = []
        self._workload_watcher: ResourceWatcher | None = None
        self._started = False

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.tracker.ready

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        """The workload manifest of one run (pure)."""
        return self.workload.build(spec)

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        """The CronWorkflow/CronJob manifest of a scheduled pipeline (pure)."""
        return self.workload.build_schedule(spec)

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        body = self.build(spec)
        return [body, self.configs.render(body, spec.config, body["metadata"]["labels"])]

    def launch(self, spec: LaunchSpec) -> None:
        body = self.build(spec)
        # Its place in the queue, should it have to wait for a slot (k8s_queue).
        body["metadata"]["annotations"][QUEUED_AT_ANNOTATION] = str(int(self._clock() * 1e6))
        self.tracker.holding(spec.run_id)
        try:
            try:
                obj, created = self._create_or_adopt(spec, body)
            except RunnerError as exc:
                if not exc.retryable:
                    # Refused for good (RBAC, missing namespace or CRD, a foreign object): the
                    # run is failed, so the server hears it as a run_update too.
                    self.refuse(spec, reason=type(exc).__name__, message=exc.message)
                raise
            self._start(spec, obj, created=created, labels=body["metadata"]["labels"])
        finally:
            self.tracker.released(spec.run_id)

    def _start(
        self, spec: LaunchSpec, obj: dict[str, Any], *, created: bool, labels: dict[str, str]
    ) -> None:
        """Give the workload (created suspended) its config Secret, then resume it if a slot is
        free (in arrival order); otherwise it waits, suspended. A re-sent launch of a workload
        that already runs changes nothing. If a step fails, a workload this call created is
        deleted (the Secret goes with it) and the run failed."""
        state = self.workload.state(obj)
        name = str(get_path(obj, "metadata", "name"))
        if created or state.suspended:
            try:
                self.configs.provide(obj, spec.config, labels)
            except RunnerError as exc:
                self._failed_start(spec, name, exc, created=created)
        own = self.tracker.launched(spec, obj, state)
        if own is None:
            return  # it waits for a slot, or it runs already
        try:
            own.result()
        except RunnerError as exc:
            self._failed_start(spec, name, exc, created=created)

    def _failed_start(
        self, spec: LaunchSpec, name: str, exc: RunnerError, *, created: bool
    ) -> None:
        if not created:
            raise exc
        # Failed first, so the watch's DELETED event does not report it as deleted by hand.
        self.refuse(spec, reason=type(exc).__name__, message=exc.message)
        try:
            self.api.delete(self.workload.workloads, name, "Background")
        except RunnerError as cleanup:
            log.warning("could not delete %s %s: %s", self.kind_name, name, cleanup)
        # The run is failed for good: sending the same request again answers that.
        raise type(exc)(exc.message, retryable=False) from None

    def refuse(self, spec: LaunchSpec, *, reason: str, message: str) -> None:
        self.tracker.refused(spec, reason=reason, message=message)

    def _create_or_adopt(
        self, spec: LaunchSpec, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The run's workload, and whether this call created it."""
        name = body["metadata"]["name"]
        res = self.workload.workloads
        try:
            return self.api.create(res, body), True
        except Conflict:
            # A re-sent request, or a retry after a timeout that had in fact created it.
            try:
                obj = self.api.get(res, name)
            except NotFound:
                # Deleted between our create and our read (a TTL): create it once more.
                return self.api.create(res, body), True
            owner = get_path(obj, "metadata", "annotations", RUN_ID_ANNOTATION)
            if owner != spec.run_id:
                raise Conflict(
                    f"{self.kind_name} {name} in namespace {self.namespace} exists but belongs "
                    f"to run {owner!r}, not {spec.run_id!r}"
                ) from None
            log.info("adopted existing %s %s for run %s", self.kind_name, name, spec.run_id)
            return obj, False
        except NotFound as exc:
            # A create answered 404: the namespace, or for Argo the CRD, does not exist.
            raise LaunchFailed(f"cannot create {self.kind_name} {name}: {exc.message}") from None

    def kill(self, run_id: str) -> None:
        target = self.tracker.killing(run_id)
        if target is None:
            return
        name, queued = target
        try:
            gone = self.workload.kill(self.api, name, queued=queued)
        except NotFound:
            gone = True
        except BaseException:
            self.tracker.kill_failed(run_id)
            raise
        if gone:
            before = " before it started (it was waiting for a slot)" if queued else ""
            self.tracker.stopped(run_id, f"{self.kind_name} {name} deleted on request{before}")
        self.tracker.promote_now()

    def logs(self, run_id: str, after: int = 0) -> LogChunk:
        """The run's ``main`` container log from byte ``after``: live from its pod while the pod
        exists (up to ``max_log_bytes``), else the tail captured when it finished."""
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        final = record.final  # before the log: a final run writes nothing more
        text: str | None = None
        pod = self.tracker.pod_of(run_id)
        if pod is not None:
            text = self._pod_logs.live(pod)
        if text is None:
            text = self.tracker.log_tail(run_id)
        return chunk(text, after, final=final, limit=self.log_chunk_bytes)

    # -- scheduled pipelines (see k8s_schedules) -------------------------------------------------

    def render_schedule(self, spec: ScheduleSpec) -> list[dict[str, Any]]:
        body = self.build_schedule(spec)
        return [body, self.configs.render(body, spec.config, body["metadata"]["labels"])]

    def deploy_schedule(self, spec: ScheduleSpec) -> ScheduleRef:
        return self._schedules.deploy(spec)

    def toggle_schedule(
        self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False
    ) -> ScheduleRef:
        return self._schedules.toggle(pipeline_fqn, enabled, dry_run=dry_run)

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        return self._schedules.delete_pipeline(pipeline_fqn, dry_run=dry_run)

    @property
    def _schedules(self) -> Schedules:
        return Schedules(
            api=self.api,
            workload=self.workload,
            configs=self.configs,
            agent_id=self.agent_id,
            label_selector=self.label_selector,
            run_final=self.tracker.run_final,
        )

    # -- health, start / stop --------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        watcher = self._workload_watcher
        if watcher is None:
            out = {"kubernetes": "not started"}
        elif watcher.healthy:
            out = {"kubernetes": "ok"}
        else:
            out = {"kubernetes": f"unavailable: {watcher.last_error or 'connecting'}"}
        healthy = None if watcher is None else watcher.healthy
        out.update(self.workload.health(healthy, None if watcher is None else watcher.last_error))
        return out

    def set_leading(self, leading: Callable[[], bool]) -> None:
        self.tracker.set_leading(leading)

    def promote(self) -> None:
        """Start the waiting runs that fit now (once connected, say); returns at once."""
        self.tracker.promote()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self._start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop_sync)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for background work (log captures, ending failed workloads, resumes); True if
        done."""
        return self.tracker.wait_idle(timeout)

    # -- the watches ---------------------------------------------------------------------------

    def _start_sync(self) -> None:
        """Re-adoption: list the pods, then the workloads (whose records are then built with
        their pods' diagnostics) into the tracker, then watch both."""
        tracker, tuning = self.tracker, self._tuning
        # No configuration at all (no service account, no kubeconfig) is not worth retrying:
        # start fails, naming it, where an unreachable API server is only retried.
        self.kube.client()
        workloads, pods = workload_and_pod_watchers(
            prefix=self.name,
            workloads=(self.workload.workloads, tracker.sync_workloads, tracker.workload_event),
            pods=(tracker.sync_pods, tracker.pod_event),
            label_selector=self.label_selector,
            api=self.api,
            watch_timeout=tuning.watch_timeout,
            stall_timeout=self._stall,
            resync_seconds=tuning.resync_seconds,
            backoff=tuning.watch_backoff,
            max_backoff=tuning.watch_max_backoff,
            clock=tuning.monotonic,
        )
        self._workload_watcher, self._watchers = workloads, [pods, workloads]
        for watcher in self._watchers:
            try:
                watcher.list_now()
            except RunnerError as exc:
                # The watch thread keeps retrying; ``ready`` waits for a successful list, and
                # health says why now rather than once the thread's own list fails too.
                watcher.healthy, watcher.last_error = False, f"{type(exc).__name__}: {exc}"
                log.error("re-adoption: cannot list %s yet: %s", watcher.resource, exc)
        tracker.promote_now(force=True)  # a workload left suspended is a waiting run
        for watcher in self._watchers:
            watcher.start()
        tracker.start()
        log.info(
            "%s executor watching %s in namespace %s (%d runs re-adopted, %d waiting, ready=%s)",
            self.name,
            self.resource,
            self.namespace,
            len(self.table),
            self.table.queued_count,
            self.ready,
        )

    def _stop_sync(self) -> None:
        for watcher in self._watchers:
            watcher.stop(timeout=5.0)
        self.tracker.stop()
        self._started = False

    def _nudge_watchers(self) -> None:
        for watcher in self._watchers:
            watcher.nudge()
