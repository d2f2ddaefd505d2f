"""Where the runner's ``ApiClient`` configuration comes from, for the executors and the
Kubernetes secret store alike: the in-cluster service account when the runner runs in a pod,
else the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), never through the egress proxy.

Each user says in its own words what it cannot do without one (``NoConfiguration``).
"""

from __future__ import annotations

from typing import Any


class NoConfiguration(Exception):
    """Not in a pod with a service account, and no usable kubeconfig (the loader's reason)."""


def direct_configuration() -> Any:
    """A client ``Configuration`` that never takes the egress proxy and never retries by
    itself (``KubeApi`` does, with a backoff, and counts the attempts).

    The library reads HTTPS_PROXY / HTTP_PROXY from the environment (``getproxies()``, again
    whenever ``host`` is set), and the runner exports them for the cloud SDKs
    (``runtime.egress.proxy``); the Kubernetes API is in the cluster and must be reached directly.
    Setting ``proxy`` stops both readings. A kubeconfig's own ``proxy-url`` still applies, as
    in kubectl: the loaders set it afterwards."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.proxy = None
    configuration.no_proxy = None
    # No urllib3 retries under KubeApi's own: with its default of three, a hung API server
    # held one call for attempts x 4 x the timeout instead of attempts x the timeout.
    configuration.retries = 0
    return configuration


def load_configuration(kubeconfig: str | None = None) -> tuple[Any, str]:
    """The client ``Configuration`` and where it came from (``in-cluster service account`` or
    ``kubeconfig``). ``kubeconfig`` overrides the file; by default the kubernetes library uses
    ``KUBECONFIG`` (which may list several files) or ``~/.kube/config``."""
    from kubernetes import config

    configuration = direct_configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return configuration, "in-cluster service account"
    except config.ConfigException:
        pass
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration
        )
    except (config.ConfigException, OSError, TypeError) as exc:
        raise NoConfiguration(str(exc)) from None
    return configuration, "kubeconfig"
