"""The Kubernetes API calls the runner makes, as plain REST on the client library's transport.

The kubernetes package's generated API classes (``CoreV1Api``, ``BatchV1Api``,
``CustomObjectsApi``) import, when first built, every model their methods name: about 250
pydantic models and 85 MB of RSS for ``CoreV1Api`` alone, most of a simpleK8s runner's memory
(docs/performance.md, section 9), for a runner that reads a dozen fields of four kinds of object.

So the runner keeps the library for what it does well (kubeconfig and in-cluster configuration,
token refresh, TLS, urllib3's pool, ``ApiException``, ``Watch``) and sends its calls
through ``ApiClient.param_serialize`` and ``call_api``, reading the answers as JSON dicts. The
classes here have the generated methods' names and arguments for the calls the runner makes,
so either can be handed to an executor or a secret store, and tests autospec these.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from runtime.kubeapi.request import KubeApi

_CORE = "/api/v1/namespaces/{namespace}"
_BATCH = "/apis/batch/v1/namespaces/{namespace}"
_CUSTOM = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"


def query_name(argument: str) -> str:
    """The API server's name of a generated method's keyword: ``label_selector`` ->
    ``labelSelector``, ``_continue`` -> ``continue``."""
    head, *rest = argument.lstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Rest:
    """One request through ``KubeApi.send``, addressed as the generated methods address it."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self._api = KubeApi(lambda: api_client)

    def __call__(
        self,
        method: str,
        path: str,
        path_params: dict[str, str],
        *,
        body: Any = None,
        text: bool = False,
        **options: Any,
    ) -> Any:
        """``options``: the generated methods' query keywords, plus ``_request_timeout``,
        ``_preload_content`` (False: the open urllib3 response, for watches) and
        ``_content_type`` (a patch's)."""
        timeout = options.pop("_request_timeout", None)
        stream = not options.pop("_preload_content", True)
        content_type = options.pop("_content_type", None)
        query = {query_name(k): v for k, v in options.items() if v is not None}
        return self._api.send(
            method,
            path.format(**{k: quote(v, safe="") for k, v in path_params.items()}),
            query=query,
            body=body,
            content_type=content_type,
            text=text,
            stream=stream,
            timeout=timeout,
        )


class _Collection:
    """Create, read, patch, delete and list of one kind under ``base`` (``.../jobs``)."""

    def __init__(self, rest: Rest, base: str) -> None:
        self._rest = rest
        self._base = base
        self._one = base + "/{name}"

    def create(self, where: dict[str, str], body: Any, options: dict[str, Any]) -> Any:
        return self._rest("POST", self._base, where, body=body, **options)

    def read(self, where: dict[str, str], name: str, options: dict[str, Any]) -> Any:
        return self._rest("GET", self._one, {**where, "name": name}, **options)

    def patch(self, where: dict[str, str], name: str, body: Any, options: dict[str, Any]) -> Any:
        return self._rest("PATCH", self._one, {**where, "name": name}, body=body, **options)

    def delete(self, where: dict[str, str], name: str, options: dict[str, Any]) -> Any:
        return self._rest("DELETE", self._one, {**where, "name": name}, **options)

    def list(self, where: dict[str, str], options: dict[str, Any]) -> Any:
        return self._rest("GET", self._base, where, **options)


class CoreV1:
    """Pods (listed, watched), as ``CoreV1Api`` names them."""

    def __init__(self, api_client: Any) -> None:
        self._rest = Rest(api_client)

    def list_namespaced_pod(self, namespace: str, **options: Any) -> Any:
        return self._rest("GET", _CORE + "/pods", {"namespace": namespace}, **options)


class BatchV1:
    """Jobs and CronJobs, as ``BatchV1Api`` names them."""

    def __init__(self, api_client: Any) -> None:
        rest = Rest(api_client)
        self._jobs = _Collection(rest, _BATCH + "/jobs")
        self._cron_jobs = _Collection(rest, _BATCH + "/cronjobs")

    def create_namespaced_job(self, namespace: str, body: Any, **options: Any) -> Any:
        return self._jobs.create({"namespace": namespace}, body, options)

    def read_namespaced_job(self, name: str, namespace: str, **options: Any) -> Any:
        return self._jobs.read({"namespace": namespace}, name, options)

    def patch_namespaced_job(self, name: str, namespace: str, body: Any, **options: Any) -> Any:
        return self._jobs.patch({"namespace": namespace}, name, body, options)

    def delete_namespaced_job(self, name: str, namespace: str, **options: Any) -> Any:
        return self._jobs.delete({"namespace": namespace}, name, options)

    def list_namespaced_job(self, namespace: str, **options: Any) -> Any:
        return self._jobs.list({"namespace": namespace}, options)

    def create_namespaced_cron_job(self, namespace: str, body: Any, **options: Any) -> Any:
        return self._cron_jobs.create({"namespace": namespace}, body, options)

    def read_namespaced_cron_job(self, name: str, namespace: str, **options: Any) -> Any:
        return self._cron_jobs.read({"namespace": namespace}, name, options)

    def patch_namespaced_cron_job(
        self, name: str, namespace: str, body: Any, **options: Any
    ) -> Any:
        return self._cron_jobs.patch({"namespace": namespace}, name, body, options)

    def delete_namespaced_cron_job(self, name: str, namespace: str, **options: Any) -> Any:
        return self._cron_jobs.delete({"namespace": namespace}, name, options)

    def list_namespaced_cron_job(self, namespace: str, **options: Any) -> Any:
        return self._cron_jobs.list({"namespace": namespace}, options)


class CustomObjects:
    """Objects of a custom resource (Argo's Workflows, CronWorkflows), as ``CustomObjectsApi``
    names them."""

    def __init__(self, api_client: Any) -> None:
        self._objects = _Collection(Rest(api_client), _CUSTOM)

    @staticmethod
    def _where(group: str, version: str, namespace: str, plural: str) -> dict[str, str]:
        return {"group": group, "version": version, "namespace": namespace, "plural": plural}

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **options: Any
    ) -> Any:
        return self._objects.create(self._where(group, version, namespace, plural), body, options)

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **options: Any
    ) -> Any:
        return self._objects.read(self._where(group, version, namespace, plural), name, options)

    def patch_namespaced_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any,
        **options: Any,
    ) -> Any:
        where = self._where(group, version, namespace, plural)
        return self._objects.patch(where, name, body, options)

    def delete_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **options: Any
    ) -> Any:
        return self._objects.delete(self._where(group, version, namespace, plural), name, options)

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **options: Any
    ) -> Any:
        return self._objects.list(self._where(group, version, namespace, plural), options)
