"""Executors behind one protocol; ``build_executor`` picks one by EXECUTOR_TYPE.

The Kubernetes executors are imported only when chosen, so the local executor starts without
loading the Kubernetes client.
"""

from __future__ import annotations

import logging

from runtime.executors.base import Executor
from runtime.executors.images import missing_tag_warning
from runtime.settings import Settings

log = logging.getLogger("runtime.executors")


def build_executor(settings: Settings) -> Executor:
    log.info("executor %s: %s", settings.executor_type, settings.executor_reason)
    if settings.executor_type != "local":
        warning = missing_tag_warning(
            settings.ingestion_image, dynamic=settings.dynamic_ingestion_version
        )
        if warning:
            log.warning(warning)
    if settings.executor_type == "argo":
        from runtime.executors.argo import ArgoExecutor

        return ArgoExecutor.from_settings(settings)
    if settings.executor_type == "simpleK8s":
        from runtime.executors.simple_k8s import SimpleK8sExecutor

        return SimpleK8sExecutor.from_settings(settings)
    from runtime.executors.local import LocalExecutor
    from runtime.executors.scheduling import unused_variables

    for warning in unused_variables("local", settings):
        log.warning(warning)
    return LocalExecutor(settings)
