"""Executors behind one protocol, and their registry: ``build_executor`` picks one by
EXECUTOR_TYPE.

An executor is one entry of ``EXECUTORS`` plus its module, under a name that
``runtime.config.backends.EXECUTOR_TYPES`` declares (with the facts the settings read: whether
it runs pods, which variables are its own). The entry says how to build it (its module is
imported only then, so the local executor starts without loading the Kubernetes client), how
to check its variables at start-up, and the RBAC rules the runner and the ingestion pods need
for it (``runtime.permissions``, and so the Helm Role test, joins them). docs/handlers.md shows
how to add one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from runtime.config.backends import EXECUTOR_TYPES, runs_pods
from runtime.executors.base import Executor
from runtime.executors.images import missing_tag_warning
from runtime.kubeapi.rbac import CONFIG_SECRET_RULE, POD_RULES, WORKLOAD_VERBS, Rule
from runtime.settings import Settings

log = logging.getLogger("runtime.executors")


def _no_warnings(settings: Settings) -> list[str]:
    return []


@attrs.frozen(kw_only=True)
class ExecutorEntry:
    """How to build and check one executor (``EXECUTOR_TYPE=<name>``)."""

    name: str
    #: Builds the executor from settings (importing its module here); contacts nothing.
    build: Callable[[Settings], Executor]
    #: Validates its variables at start-up: raises ``ConfigError``, returns warnings.
    check: Callable[[Settings], list[str]] = _no_warnings
    #: What the runner's Role grants for it, and the ingestion pods' Role.
    rules: tuple[Rule, ...] = ()
    ingestion_rules: tuple[Rule, ...] = ()


def _build_local(settings: Settings) -> Executor:
    from runtime.executors.local.executor import LocalExecutor
    from runtime.executors.scheduling import unused_variables

    for warning in unused_variables("local", settings):
        log.warning(warning)
    return LocalExecutor(settings)


def _build_argo(settings: Settings) -> Executor:
    from runtime.executors.kube import argo

    return argo.from_settings(settings)


def _build_simple_k8s(settings: Settings) -> Executor:
    from runtime.executors.kube import jobs as simple_k8s

    return simple_k8s.from_settings(settings)


def _check_argo(settings: Settings) -> list[str]:
    from runtime.executors.scheduling import check_pod_variables

    return check_pod_variables("argo", settings)


def _check_simple_k8s(settings: Settings) -> list[str]:
    from runtime.executors.scheduling import check_pod_variables

    return check_pod_variables("simpleK8s", settings)


EXECUTORS: dict[str, ExecutorEntry] = {
    entry.name: entry
    for entry in (
        ExecutorEntry(name="local", build=_build_local),
        ExecutorEntry(
            name="argo",
            build=_build_argo,
            check=_check_argo,
            rules=(
                Rule(("argoproj.io",), ("workflows", "cronworkflows"), WORKLOAD_VERBS),
                *POD_RULES,
                CONFIG_SECRET_RULE,
            ),
            # Argo's executor (the ``wait`` container) records outputs as WorkflowTaskResults.
            ingestion_rules=(
                Rule(("argoproj.io",), ("workflowtaskresults",), ("create", "patch")),
            ),
        ),
        ExecutorEntry(
            name="simpleK8s",
            build=_build_simple_k8s,
            check=_check_simple_k8s,
            rules=(
                Rule(("batch",), ("jobs", "cronjobs"), WORKLOAD_VERBS),
                *POD_RULES,
                CONFIG_SECRET_RULE,
            ),
        ),
    )
}


def executor_entry(name: str) -> ExecutorEntry:
    if name not in EXECUTORS or name not in EXECUTOR_TYPES:
        raise ValueError(f"unknown executor {name!r}; expected one of {tuple(EXECUTORS)}")
    return EXECUTORS[name]


def validate_settings_for(executor_type: str, settings: Settings) -> list[str]:
    """Check the variables of ``executor_type`` (its entry's ``check``); return warnings, among
    them the variables that have no effect with it. Raises ``ConfigError`` for a bad value."""
    from runtime.executors.scheduling import unused_variables

    return executor_entry(executor_type).check(settings) + unused_variables(executor_type, settings)


def check_executor(settings: Settings) -> list[str]:
    """The start-up check of the chosen executor: its entry's ``check`` (``ConfigError`` naming
    the variable, or warnings). Building it warns about the other executors' variables."""
    return executor_entry(settings.executor_type).check(settings)


def build_executor(settings: Settings) -> Executor:
    log.info("executor %s: %s", settings.executor_type, settings.executor_reason)
    entry = executor_entry(settings.executor_type)
    if runs_pods(settings.executor_type):
        warning = missing_tag_warning(
            settings.ingestion_image, dynamic=settings.dynamic_ingestion_version
        )
        if warning:
            log.warning(warning)
    return entry.build(settings)
