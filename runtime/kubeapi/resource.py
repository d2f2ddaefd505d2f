"""A kind of Kubernetes object as a value that builds its own API paths.

The runner reads and writes a handful of kinds (Jobs, CronJobs, Argo's Workflows and
CronWorkflows, Pods and their logs, Secrets). Each is named once, by group, version and plural,
and every request derives its path from that: the collection (``.../namespaces/ns/jobs``), one
object (``.../jobs/om-1``) and a subresource (``.../pods/om-1-pod/log``). Nothing is generated
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
