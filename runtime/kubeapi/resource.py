"""A kind of Kubernetes object as a value that builds its own API paths.

The runner reads and writes a handful of kinds (Jobs, CronJobs, Argo's Workflows and
CronWorkflows, Pods and their logs, Secrets). Each is named once below, by group, version and
plural, and every request derives its path from that: the collection
(``.../namespaces/ns/jobs``), one object (``.../jobs/om-1``) and a subresource
(``.../pods/om-1-pod/log``). Nothing is generated
and nothing is looked up by method name.
"""

from __future__ import annotations

from urllib.parse import quote

import attrs


@attrs.frozen(kw_only=True)
class Resource:
    """One kind of object: ``group`` is ``""`` for the core API (``/api/v1``)."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    #: What it is called in messages: ``Job``, ``CronWorkflow``.
    kind: str = ""
    #: What a 404 on a create most likely means (a custom resource whose CRD is not installed);
    #: said in the error instead of a bare "not found".
    missing: str = ""

    @property
    def rbac(self) -> str:
        """The RBAC name, as messages and the Role say it: ``jobs.batch``, ``secrets``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The collection's path, or with ``name`` one object's, or its ``subresource``'s."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.rbac} are namespaced: a namespace is needed")
            root += f"/namespaces/{quote(namespace, safe='')}"
        path = f"{root}/{self.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
            if subresource:
                path += f"/{subresource}"
        return path


PODS = Resource(group="", version="v1", plural="pods", kind="Pod")
SECRETS = Resource(group="", version="v1", plural="secrets", kind="Secret")
JOBS = Resource(group="batch", version="v1", plural="jobs", kind="Job")
CRON_JOBS = Resource(group="batch", version="v1", plural="cronjobs", kind="CronJob")


def _argo(plural: str, kind: str) -> Resource:
    return Resource(
        group="argoproj.io",
        version="v1alpha1",
        plural=plural,
        kind=kind,
        missing=f"is Argo Workflows installed (CRD {plural}.argoproj.io) and does the "
        "namespace exist?",
    )


WORKFLOWS = _argo("workflows", "Workflow")
CRON_WORKFLOWS = _argo("cronworkflows", "CronWorkflow")
