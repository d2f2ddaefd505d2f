"""The egress proxy as the runner applies it: which proxy the WebSocket takes, what the cloud SDKs
and the ``local`` executor's runs are given, and the effective NO_PROXY they all share.

Settings come from ``runtime.config.proxy``. The *effective* NO_PROXY is the user's list plus
what must never go through a proxy in a cluster: the Kubernetes API (``KUBERNETES_SERVICE_HOST``,
``KUBERNETES_SERVICE_CIDR``), Services (``.svc``, ``.cluster.local``) and the loopback names.
The runner's own Kubernetes client is kept off the proxy altogether (``runtime.kubeapi.loading``).

Credentials (the URL's ``user:password@`` or PROXY_USERNAME / PROXY_PASSWORD) are kept apart
from the URL that may be shown: ``Proxy.url`` never carries them. Only two places see them
inline: the process environment the cloud SDKs read (``export_environment``), which is how those
SDKs take proxy credentials, and the ``local`` executor's subprocesses.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from urllib.parse import quote, unquote, urlsplit

import attrs

from runtime.config.env_parsers import without_userinfo
from runtime.config.no_proxy import NoProxy
from runtime.config.proxy import ProxySettings
from runtime.wire.errors import ConfigError

#: Always reached directly, whatever NO_PROXY says.
ALWAYS_DIRECT = (".svc", ".cluster.local", "localhost", "127.0.0.1", "::1")
MASK = "***"


@attrs.frozen
class Proxy:
    """One configured proxy: ``url`` without credentials, and the credentials apart."""

    variable: str
    url: str
    username: str = attrs.field(default="", repr=False)
    password: str = attrs.field(default="", repr=False)
    #: The credentials were written in the URL (not in PROXY_USERNAME / PROXY_PASSWORD).
    inline: bool = False

    def url_with(self, username: str, password: str) -> str:
        """``url`` with ``username:password@`` put in (as given: callers quote or not)."""
        parts = urlsplit(self.url)
        return parts._replace(netloc=f"{username}:{password}@{parts.netloc}").geturl()

    def process_url(self, *, mask: bool = False) -> str:
        """The URL for a process environment: credentials inline (percent-encoded), or masked."""
        if not self.username:
            return self.url
        if mask:
            return self.url_with(MASK, MASK)
        return self.url_with(quote(self.username, safe=""), quote(self.password, safe=""))


def _proxy(variable: str, url: str, settings: ProxySettings) -> Proxy | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.username is not None:
        return Proxy(
            variable,
            without_userinfo(url),
            unquote(parts.username),
            unquote(parts.password or ""),
            inline=True,
        )
    return Proxy(variable, url, settings.proxy_username, settings.proxy_password)


def proxies(settings: ProxySettings) -> dict[str, Proxy]:
    """The configured proxies by the scheme they serve: ``https`` (wss too) and ``http``."""
    found = {
        "https": _proxy("HTTPS_PROXY", settings.https_proxy, settings),
        "http": _proxy("HTTP_PROXY", settings.http_proxy, settings),
    }
    return {scheme: proxy for scheme, proxy in found.items() if proxy is not None}


def effective_no_proxy(settings: ProxySettings) -> NoProxy:
    """The user's NO_PROXY plus what is always direct in a cluster (module docstring)."""
    host = [settings.kubernetes_service_host] if settings.kubernetes_service_host else []
    return NoProxy.parse(
        [*settings.no_proxy, *host, *ALWAYS_DIRECT, *settings.kubernetes_service_cidr]
    )


def route(settings: ProxySettings, url: str) -> Proxy | None:
    """The proxy ``url`` (``wss://`` or ``ws://``) goes through, or None to connect directly."""
    secure = urlsplit(url).scheme.lower() in ("wss", "https")
    proxy = proxies(settings).get("https" if secure else "http")
    if proxy is None or effective_no_proxy(settings).bypasses(url):
        return None
    return proxy


def describe_route(settings: ProxySettings, url: str) -> str:
    """How ``url`` is reached, for the connect log line (never with credentials)."""
    via = route(settings, url)
    if via is not None:
        return f" via proxy {via.url}"
    return " directly (NO_PROXY)" if proxies(settings) else ""


def process_environment(settings: ProxySettings, *, mask: bool = False) -> dict[str, str]:
    """Both spellings of each configured proxy (credentials inline) and of the effective
    NO_PROXY: what a process on this machine reads; empty when no proxy is configured."""
    out: dict[str, str] = {}
    for proxy in proxies(settings).values():
        value = proxy.process_url(mask=mask)
        out[proxy.variable] = out[proxy.variable.lower()] = value
    if out:
        out["NO_PROXY"] = out["no_proxy"] = effective_no_proxy(settings).text
    return out


def export_environment(
    settings: ProxySettings, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Put ``process_environment`` into this process's environment, where boto3, azure-core and
    gRPC read their proxy (gRPC reads only the lower-case ``https_proxy`` / ``no_proxy``, and
    ``grpc_proxy`` before them). Called once, by the CLI, before anything is built."""
    env = os.environ if environ is None else environ
    exported = process_environment(settings)
    env.update(exported)
    return exported


def secrets(settings: ProxySettings) -> list[str]:
    """The proxy passwords as they may appear in text (plain and percent-encoded), for the log
    redactor."""
    out = []
    for proxy in proxies(settings).values():
        if proxy.password:
            out += [proxy.password, quote(proxy.password, safe="")]
    return out


def check(settings: ProxySettings, *, runs_pods: bool) -> None:
    """Refuse what cannot work or would leak: ``ConfigError`` naming the variable."""
    if settings.proxy_password and not settings.proxy_username:
        raise ConfigError("PROXY_PASSWORD", "is set but PROXY_USERNAME is not")
    for proxy in proxies(settings).values():
        if not proxy.inline:
            continue
        if settings.proxy_username:
            raise ConfigError(
                proxy.variable,
                "carries user:password@ and PROXY_USERNAME is set too: give the credentials once",
            )
        if runs_pods and settings.ingestion_proxy and not settings.proxy_credentials_secret:
            raise ConfigError(
                proxy.variable,
                "carries user:password@, which would be written into every ingestion Job and "
                "Workflow: set PROXY_CREDENTIALS_SECRET to a Secret with keys username and "
                "password for the pods (or INGESTION_PROXY_ENABLED=false)",
            )


def start_up_notes(settings: ProxySettings, *, runs_pods: bool) -> list[str]:
    """Warnings worth one line at start-up."""
    notes = []
    configured = proxies(settings)
    pods_get_it = runs_pods and settings.ingestion_proxy and configured
    if pods_get_it and settings.proxy_username and not settings.proxy_credentials_secret:
        notes.append(
            "PROXY_USERNAME is set but PROXY_CREDENTIALS_SECRET is not: ingestion pods get the "
            "proxy without credentials"
        )
    if settings.proxy_credentials_secret and not configured:
        notes.append("PROXY_CREDENTIALS_SECRET is set but no HTTPS_PROXY or HTTP_PROXY")
    return notes
