"""The list half of a watch, sized for thousands of runs: pages, raw JSON, and only what is read.

A runner re-adopting 10,000 finished Jobs once listed them in one call that the Kubernetes client
turned into model objects: 355 MiB of Python heap at the peak and an RSS that never came back
down (docs/performance.md, section 9), above the chart's 256Mi memory limit at a few thousand
runs. So a list here asks for ``LIST_PAGE`` objects at a time (``limit`` / ``continue``), reads
each page as plain JSON (``KubeApi``: no models), and keeps of each object only
what the executor reads from it (``slim_workload``, ``slim_pod``): the pod templates, with
every run's config in their env, are the bulk of a workload and are never read after launch.
A ``Listing`` hands the objects out as the pages come, so the executor turns each into its
small run state before the next page is asked for: at 10,000 runs the runner's RSS after
re-adoption went from 130 to 101 MB when lists stopped being collected whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from runtime.executors.kube.client import get_path

#: Objects per list call: the API server's own suggestion for paged lists is 500.
LIST_PAGE = 500
Slim = Callable[[dict[str, Any]], dict[str, Any]]
#: Status members of an Argo Workflow that copy its templates (never read by the runner).
_COPIED_TEMPLATES = ("storedTemplates", "storedWorkflowTemplateSpec")


class Listing:
    """One paged list, fetched as it is read: the next page is asked for only when the items of
    the one before are used up, so at most one page is in memory at a time. ``call(**query)``
    answers one page (``limit``, ``continue``) as the API server's JSON dict. It is read once
    (a second loop goes on where the first stopped); ``resource_version`` is the list's once
    the last page is read (None before).

    A call that fails mid-way (an expired continue token, the API server gone) raises out of
    the loop that reads the listing; the watcher lists again from the start.
    """

    def __init__(
        self, call: Callable[..., dict[str, Any]], slim: Slim, page: int = LIST_PAGE
    ) -> None:
        self._call, self._slim, self._page = call, slim, page
        self.resource_version: str | None = None
        self.complete = False
        self._items = self._read()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._items

    def _read(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            query: dict[str, Any] = {"limit": self._page}
            if token:
                query["continue"] = token
            result = self._call(**query)
            items = result.pop("items", None) or []
            token = get_path(result, "metadata", "continue") or None
            version = get_path(result, "metadata", "resourceVersion")
            del result
            items.reverse()
            while items:
                # Popped, so each object is freed as soon as the reader is done with it.
                yield self._slim(items.pop())
            if not token:
                self.resource_version, self.complete = version, True
                return


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    metadata.pop("managedFields", None)
    return metadata


def slim_workload(obj: dict[str, Any]) -> dict[str, Any]:
    """A Job or Workflow as its state is read: metadata, status, and the spec's plain values
    (``suspend``, ``shutdown``, deadlines), without the templates."""
    spec = obj.get("spec") or {}
    status = {k: v for k, v in (obj.get("status") or {}).items() if k not in _COPIED_TEMPLATES}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
        "spec": {k: v for k, v in spec.items() if not isinstance(v, dict | list)},
        "status": status,
    }


def slim_pod(obj: dict[str, Any]) -> dict[str, Any]:
    """A pod as it is diagnosed: metadata, status, and each container's name and resources."""
    containers = get_path(obj, "spec", "containers") or []
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
        "spec": {
            "containers": [
                {"name": c.get("name"), "resources": c.get("resources") or {}} for c in containers
            ]
        },
        "status": obj.get("status") or {},
    }
