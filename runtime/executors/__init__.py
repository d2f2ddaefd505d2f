"""Executors behind one protocol; ``build_executor`` picks one by EXECUTOR_TYPE.

Each executor is an entry of ``runtime.backends.EXECUTORS`` plus its module. The Kubernetes
executors are imported only when chosen, so the local executor starts without loading the
Kubernetes client.
"""

from __future__ import annotations

import logging

from runtime.backends import EXECUTORS
from runtime.executors.base import Executor
from runtime.executors.images import missing_tag_warning
from runtime.settings import Settings

log = logging.getLogger("runtime.executors")


def build_executor(settings: Settings) -> Executor:
    log.info("executor %s: %s", settings.executor_type, settings.executor_reason)
    entry = EXECUTORS[settings.executor_type]
    if entry.runs_pods:
        warning = missing_tag_warning(
            settings.ingestion_image, dynamic=settings.dynamic_ingestion_version
        )
        if warning:
            log.warning(warning)
    return entry.build(settings)
