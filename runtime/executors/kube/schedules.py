"""Scheduled pipelines of the Kubernetes executors (deploy_pipeline, toggle_pipeline,
delete_pipeline).

``deploy`` creates the CronWorkflow/CronJob under a name derived from the pipeline FQN, suspended
until its config Secret (``k8s_config``, owned by the schedule) exists; on 409 it checks the
existing one is this agent's schedule of that pipeline, replaces the Secret and replaces the
schedule's spec with a JSON patch (``create``, ``get`` and ``patch`` on schedules). ``toggle``
merge-patches ``spec.suspend``. ``delete_pipeline`` lists the pipeline's Workflows/Jobs by
label, detaches the active ones from the schedule (the cron controllers own their runs, and
the cascade would take them along), deletes the schedule with ``propagationPolicy: Background``
(its config Secret goes with it) and then the finished runs, one by one (no
``deletecollection``: a label selector cannot tell finished from active). Runs a schedule
starts are tracked like any other: see ``k8s_pod.run_id_of``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from runtime.executors.base import PipelineDeletion, ScheduleRef, ScheduleSpec
from runtime.executors.kube.client import get_path
from runtime.executors.kube.config_secret import ConfigSecrets
from runtime.executors.kube.listing import slim_workload
from runtime.executors.kube.pod import (
    AGENT_LABEL,
    PIPELINE_FQN_ANNOTATION,
    PIPELINE_LABEL,
    run_id_of,
)
from runtime.executors.kube.resources import JSON_PATCH, ResourceApi, Workload
from runtime.executors.naming import label_value, schedule_name
from runtime.wire.errors import Conflict, LaunchFailed, NotFound, RunnerError

log = logging.getLogger(__name__)


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


@attrs.define(kw_only=True)
class Schedules:
    """A Kubernetes executor's scheduled pipelines."""

    api: ResourceApi
    workload: Workload
    configs: ConfigSecrets
    agent_id: str
    label_selector: str
    #: Whether the runner's record of a run is final (a run it ended, say).
    run_final: Callable[[str], bool]

    @property
    def namespace(self) -> str:
        return self.api.namespace

    @property
    def kind(self) -> str:
        return self.workload.schedules.kind

    def deploy(self, spec: ScheduleSpec) -> ScheduleRef:
        """Create the schedule; if its deterministic name exists (a re-deploy, a re-sent
        request), replace its spec in place with a JSON patch (so fields dropped from the new
        manifest go too) after checking it is this agent's schedule of this pipeline."""
        body = self.workload.build_schedule(spec)
        name = body["metadata"]["name"]
        ref = ScheduleRef(name=name, enabled=spec.enabled)
        try:
            self._create(body, spec)
            return ref
        except Conflict:
            pass
        try:
            existing = self.owned(name, spec.pipeline_fqn)
        except NotFound:
            # Deleted between our create and our read: create it once more.
            self._create(body, spec)
            return ref
        # The Secret first: the runs the old spec still starts read the new config too.
        self.configs.provide(existing, spec.config, body["metadata"]["labels"])
        self.api.patch(self.workload.schedules, name, replacement_patch(existing, body), JSON_PATCH)
        log.info("updated %s %s for pipeline %s", self.kind, name, spec.pipeline_fqn)
        return ref

    def _create(self, body: dict[str, Any], spec: ScheduleSpec) -> None:
        """Create the schedule suspended, give it its config Secret, then set ``suspend`` as
        asked; if the Secret cannot be made, the schedule is deleted again."""
        name, res = body["metadata"]["name"], self.workload.schedules
        try:
            created = self.api.create(res, {**body, "spec": {**body["spec"], "suspend": True}})
        except NotFound as exc:
            raise LaunchFailed(
                f"cannot create {self.kind} {name} in namespace {self.namespace}: {exc.message}"
            ) from None
        try:
            self.configs.provide(created, spec.config, body["metadata"]["labels"])
            if spec.enabled:
                self.api.patch(res, name, {"spec": {"suspend": False}})
        except RunnerError:
            try:
                self.api.delete(res, name, "Background")
            except RunnerError as cleanup:
                log.warning("could not delete %s %s: %s", self.kind, name, cleanup)
            raise
        log.info("created %s %s for pipeline %s", self.kind, name, spec.pipeline_fqn)

    def toggle(self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False) -> ScheduleRef:
        name = schedule_name(pipeline_fqn)
        try:
            self.owned(name, pipeline_fqn)
            if not dry_run:
                self.api.patch(self.workload.schedules, name, {"spec": {"suspend": not enabled}})
        except NotFound:
            raise NotFound(self._no_schedule(pipeline_fqn, name)) from None
        log.info("%s %s %s", "resumed" if enabled else "suspended", self.kind, name)
        return ScheduleRef(name=name, enabled=enabled)

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        """Delete the schedule with its config Secret, and every finished run of the pipeline;
        active runs stay (they are detached from the schedule first: the cron controllers own
        their runs, and deleting the schedule would take active ones along)."""
        name = schedule_name(pipeline_fqn)
        deleted: list[str] = []
        kept: list[str] = []
        runs = self.pipeline_workloads(pipeline_fqn)
        active = [obj for obj in runs if not self._final(obj)]
        has_schedule = self._delete_schedule(name, pipeline_fqn, active, dry_run=dry_run)
        if has_schedule:
            deleted.append(name)
        for obj in runs:
            obj_name = str(get_path(obj, "metadata", "name"))
            if any(obj is other for other in active):
                kept.append(obj_name)
                continue
            if not dry_run:
                try:
                    self.api.delete(self.workload.workloads, obj_name, "Background")
                except NotFound:
                    pass  # its TTL (or the schedule's deletion) was quicker
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

    def _final(self, obj: dict[str, Any]) -> bool:
        run_id = run_id_of(obj)
        return self.workload.state(obj).final or bool(run_id and self.run_final(run_id))

    def _delete_schedule(
        self, name: str, pipeline_fqn: str, active: list[dict[str, Any]], *, dry_run: bool
    ) -> bool:
        """Delete this agent's schedule of the pipeline; False when there is none.

        ``propagationPolicy: Background``, so Kubernetes deletes what the schedule owns: its
        config Secret and its finished runs (Orphan would leave the Secret behind, the bot's
        token in it). The ``active`` runs it owns are detached first, so they finish."""
        try:
            schedule = self.owned(name, pipeline_fqn)
        except NotFound:
            return False
        if dry_run:
            return True
        uid = get_path(schedule, "metadata", "uid")
        for obj in active:
            owners = get_path(obj, "metadata", "ownerReferences") or []
            if any(owner.get("uid") == uid for owner in owners):
                run = str(get_path(obj, "metadata", "name"))
                self.api.patch(
                    self.workload.workloads, run, {"metadata": {"ownerReferences": None}}
                )
        try:
            self.api.delete(self.workload.schedules, name, "Background")
        except NotFound:
            pass
        return True

    def pipeline_workloads(self, pipeline_fqn: str) -> list[dict[str, Any]]:
        """This agent's Workflows/Jobs of one pipeline, by label (an API list: the objects
        themselves, including ones whose records the table has already forgotten)."""
        items = self.api.listing(
            self.workload.workloads,
            slim_workload,
            label_selector=f"{self.label_selector},{PIPELINE_LABEL}={label_value(pipeline_fqn)}",
        )
        # The label may be a hash of the FQN: the annotation has the full name.
        mine = [
            obj
            for obj in items
            if get_path(obj, "metadata", "annotations", PIPELINE_FQN_ANNOTATION) == pipeline_fqn
        ]
        return sorted(mine, key=lambda obj: str(get_path(obj, "metadata", "name")))

    def owned(self, name: str, pipeline_fqn: str) -> dict[str, Any]:
        """The schedule object, if it is this agent's schedule of ``pipeline_fqn``."""
        obj = self.api.get(self.workload.schedules, name)
        agent = get_path(obj, "metadata", "labels", AGENT_LABEL)
        fqn = get_path(obj, "metadata", "annotations", PIPELINE_FQN_ANNOTATION)
        if agent != label_value(self.agent_id or "default") or fqn != pipeline_fqn:
            raise Conflict(
                f"{self.kind} {name} in namespace {self.namespace} exists but "
                f"belongs to pipeline {fqn!r} of agent {agent!r}, not to {pipeline_fqn!r} of "
                "this runner"
            )
        return obj

    def _no_schedule(self, pipeline_fqn: str, name: str) -> str:
        return (
            f"pipeline {pipeline_fqn!r} has no schedule on this runner ({self.kind} "
            f"{name} not found in namespace {self.namespace})"
        )
