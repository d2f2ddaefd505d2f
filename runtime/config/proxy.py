"""The egress proxy: where the WebSocket, the cloud SDKs and the ingestion pods' HTTP(S) go
through, its credentials, and what bypasses it (``runtime.egress.proxy`` applies them)."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import (
    cidr_list,
    kubernetes_name,
    no_proxy_list,
    parse_bool,
    proxy_url,
    text,
)
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class ProxySettings:
    """The egress proxy."""

    https_proxy: str = setting(
        "HTTPS_PROXY",
        proxy_url,
        "",
        "Proxy of `wss://` (HTTP CONNECT), of the cloud SDKs and of the ingestion pods' HTTPS: "
        "`http://host:port`; credentials in the URL or PROXY_USERNAME/PROXY_PASSWORD. The "
        "lower-case spelling wins when both are set (as curl reads them).",
        secret=True,
        alias="https_proxy",
    )
    http_proxy: str = setting(
        "HTTP_PROXY",
        proxy_url,
        "",
        "Proxy of a plain `ws://` SERVER_URL and of plain HTTP calls (SDKs, ingestion pods).",
        secret=True,
        alias="http_proxy",
    )
    no_proxy: tuple[str, ...] = setting(
        "NO_PROXY",
        no_proxy_list,
        (),
        "Hosts reached directly, comma-separated: `corp.example` or `.corp.example` (it and its "
        "subdomains), `*`, an IP, a CIDR (`10.0.0.0/8`), `host:port`, `[::1]:8443`. The "
        "Kubernetes API host, `.svc`, `.cluster.local`, `localhost`, `127.0.0.1`, `::1` and "
        "KUBERNETES_SERVICE_CIDR are always added.",
        alias="no_proxy",
    )
    proxy_username: str = setting(
        "PROXY_USERNAME",
        text,
        "",
        "User for the proxy's Basic authentication (instead of `user:password@` in the URL).",
        secret=True,
    )
    proxy_password: str = setting(
        "PROXY_PASSWORD",
        text,
        "",
        "Password for the proxy's Basic authentication; never logged.",
        secret=True,
    )
    proxy_credentials_secret: str = setting(
        "PROXY_CREDENTIALS_SECRET",
        kubernetes_name,
        "",
        "Secret in the ingestion namespace with keys `username` and `password`: ingestion pods "
        "get them as PROXY_USERNAME/PROXY_PASSWORD by secretKeyRef, never inline. Required "
        "when a proxy URL carries credentials and pods get the proxy.",
    )
    kubernetes_service_cidr: tuple[str, ...] = setting(
        "KUBERNETES_SERVICE_CIDR",
        cidr_list,
        (),
        "The cluster's Service CIDRs (comma-separated), added to NO_PROXY.",
    )
    ingestion_proxy: bool = setting(
        "INGESTION_PROXY_ENABLED",
        parse_bool,
        True,
        "Give ingestion pods (and `local` runs) the proxy variables and the effective NO_PROXY "
        "when a proxy is configured.",
    )
    #: Where the Kubernetes API is (set by Kubernetes in every pod): always bypasses the proxy.
    kubernetes_service_host: str = ""
