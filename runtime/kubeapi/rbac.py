"""RBAC policy rules as data: what a backend's registry entry declares it needs."""

from __future__ import annotations

import attrs

#: Verbs on the runner's own workloads (Workflows/CronWorkflows or Jobs/CronJobs): launch is
#: create (409 -> adopt with get), status is list + watch, kill and toggle are patch
#: (``spec.shutdown``, ``spec.suspend``), cleanup and undeploy are delete. ``deploy_pipeline``
#: re-deploys with get + a JSON patch replacing ``spec`` (so no ``update``); ``delete_pipeline``
#: lists a pipeline's runs by label and deletes the finished ones one by one (no
#: ``deletecollection``: a selector cannot tell finished runs from active ones).
WORKLOAD_VERBS = ("create", "get", "list", "watch", "patch", "delete")
READ = ("get", "list", "watch")


@attrs.frozen
class Rule:
    """One RBAC policy rule (always namespaced: the chart grants it through a Role)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    #: Only these objects (RBAC cannot grant by prefix; empty: every object of the resources).
    resource_names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        out = {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
        }
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        out["verbs"] = list(self.verbs)
        return out


#: The runs' config Secrets (``runtime.executors.kube.config_secret``): created, and replaced on a
#: re-sent launch or a redeploy. Never ``get``, ``list`` or ``patch``: each answers with a
#: Secret's data, and the runner has no reason to read any Secret it did not write.
CONFIG_SECRET_RULE = Rule(("",), ("secrets",), ("create", "update"))

#: What an executor that runs pods reads about them: the pods (diagnosis: unschedulable, image
#: pull errors, OOM), their logs, and events (reasons a pod never started).
POD_RULES = (
    Rule(("",), ("pods",), READ),
    Rule(("",), ("pods/log",), ("get",)),
    Rule(("",), ("events",), ("list", "watch")),
)
