"""Which executor runs ingestion when ``EXECUTOR_TYPE`` is not set, and why.

Collate's public chart sets ``EXECUTOR_TYPE=simpleK8s`` in its simple mode but no
``EXECUTOR_TYPE`` at all in its Argo mode (``installArgoWorkflows`` or
``config.argoWorkflows.endpoint``), where its runner falls back to Argo. What that mode sets
instead is the signal here: ``PIPELINE_SERVICE_CLIENT_ENDPOINT`` (the argo-server URL) or
``ARGO_TOKEN`` (the argowf-client token), when not empty, or ``ARGO_PIPELINE_TYPE_CONFIGS``,
which that mode always renders (``""`` by default). Any of them without ``EXECUTOR_TYPE`` means
``argo``. With none of them the default is unchanged (``local``), so a runner configured with
nothing else keeps working as before.

This runner creates Workflows through the Kubernetes API, not through argo-server: the endpoint
and the token only choose the executor. Their values are never used, logged or sent.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_EXECUTOR = "local"
EXPLICIT = "EXECUTOR_TYPE"
#: Variables that Collate's chart sets in its Argo mode only, in the order they are checked.
ARGO_MODE_VARIABLES = (
    "PIPELINE_SERVICE_CLIENT_ENDPOINT",
    "ARGO_TOKEN",
    "ARGO_PIPELINE_TYPE_CONFIGS",
)
#: Counted even when empty: the chart renders it in Argo mode whatever its value.
_PRESENCE_IS_ENOUGH = frozenset({"ARGO_PIPELINE_TYPE_CONFIGS"})


def argo_mode_signal(env: Mapping[str, str]) -> str | None:
    """The first Argo-mode variable of Collate's chart found in ``env``, or None."""
    for name in ARGO_MODE_VARIABLES:
        raw = env.get(name)
        if raw is not None and (raw.strip() or name in _PRESENCE_IS_ENOUGH):
            return name
    return None


def choose_executor(env: Mapping[str, str], explicit: str | None) -> tuple[str, str]:
    """``(executor type, why)``: ``explicit`` (EXECUTOR_TYPE, parsed) wins, then an Argo-mode
    signal, then the default. ``why`` is meant for the start-up log."""
    if explicit:
        return explicit, "EXECUTOR_TYPE is set"
    signal = argo_mode_signal(env)
    if signal is not None:
        return "argo", (
            f"EXECUTOR_TYPE is not set and {signal} is, as in the Argo mode of Collate's chart"
        )
    return DEFAULT_EXECUTOR, (
        f"EXECUTOR_TYPE is not set, nor any of {', '.join(ARGO_MODE_VARIABLES)}: the default"
    )
