"""What one connection attempt needs besides the URL, and what its failure means to an operator.

* The token: AUTH_TOKEN, or AUTH_TOKEN_FILE read again at every attempt, so a rotated Secret
  (the kubelet refreshes a mounted one within about a minute) is used at the next reconnect.
* Why an attempt failed, as one warning line and one ``connection_failures`` cause: above all
  the egress proxy's refusals (407, 403, any other answer to CONNECT, a refused connection, a
  CONNECT never answered), which name the proxy without its credentials and what to check.

Kept apart from ``runtime.serving.connection``, which runs the protocol, so the session loop
does not carry the many ways a connect can fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import attrs

from runtime.egress.proxy import Proxy

#: ``connection_failures{cause}`` of a proxy that refused or did not answer, and of a token file
#: that could not be read.
PROXY_CAUSE = "proxy"
TOKEN_CAUSE = "token_file"


class TokenUnavailable(Exception):
    """The token file cannot be read, or holds no usable token: one line, then the backoff."""


class TokenSource:
    """The bearer token for the next attempt. ``redact`` registers every value read with the
    log redactor."""

    def __init__(self, token: str, path: str, redact: Callable[[str], None]) -> None:
        self._token = token
        self.path = path
        self._redact = redact
        #: The token of the latest attempt: a refusal compares the file against it.
        self.last = ""

    @property
    def source(self) -> str:
        """Where the token comes from, for messages."""
        return f"AUTH_TOKEN_FILE ({self.path})" if self.path else "AUTH_TOKEN"

    def _read(self) -> str:
        if not self.path:
            token = self._token
        else:
            try:
                token = Path(self.path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise TokenUnavailable(
                    f"cannot read AUTH_TOKEN_FILE {self.path}: {exc.strerror or exc}"
                ) from None
            except UnicodeDecodeError:
                raise TokenUnavailable(f"AUTH_TOKEN_FILE {self.path} is not UTF-8 text") from None
            if not token:
                raise TokenUnavailable(f"AUTH_TOKEN_FILE {self.path} is empty")
        self._redact(token)
        # A header cannot hold a line break; a JWT holds no space either.
        if any(c.isspace() or ord(c) < 32 for c in token):
            raise TokenUnavailable(f"{self.source} holds more than one word or line")
        return token

    def read(self) -> str:
        """The token to send now; ``TokenUnavailable`` says why there is none."""
        self.last = self._read()
        return self.last

    def changed(self) -> bool:
        """After a refusal: the file holds another token than the refused one (read once)."""
        if not self.path:
            return False
        try:
            return self._read() != self.last
        except TokenUnavailable:
            return False


def proxy_headers(proxy: Proxy | None) -> dict[str, str] | None:
    """The CONNECT request's ``Proxy-Authorization`` (Basic), when the proxy has credentials."""
    if proxy is None or not proxy.username:
        return None
    return {"Proxy-Authorization": aiohttp.encode_basic_auth(proxy.username, proxy.password)}


def upgrade_headers(token: str, url: str, proxy: Proxy | None) -> dict[str, str]:
    """The upgrade request's headers. Through a proxy a plain ``ws://`` request is forwarded to
    the proxy, not tunnelled, so the proxy's credentials go in it; a ``wss://`` request never
    carries them (it reaches the server through the tunnel)."""
    headers = {"Authorization": f"Bearer {token}"}
    if urlsplit(url).scheme == "ws":
        headers.update(proxy_headers(proxy) or {})
    return headers


def dial_url(url: str, proxy: Proxy | None) -> str:
    """The URL to request. A ``ws://`` upgrade forwarded by a proxy names its target in absolute
    form, which aiohttp writes as given: proxies know ``http://`` there, not ``ws://`` (squid
    answers 501), so it is asked as ``http://``; the upgrade is the same."""
    parts = urlsplit(url)
    if proxy is not None and parts.scheme == "ws":
        return parts._replace(scheme="http").geturl()
    return url


@attrs.frozen
class Failure:
    """A failed attempt as the operator reads it: a metric cause and one warning line."""

    cause: str
    message: str


def target(url: str) -> str:
    """``host:port`` of a ``ws(s)://`` URL, as the proxy's CONNECT names it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"


def _proxy_answer(status: int, reason: str, url: str, proxy: Proxy) -> Failure:
    where = f"proxy {proxy.url} ({proxy.variable}) answered the CONNECT to {target(url)} with"
    answer = f"{status} {reason}".strip()
    if status == 407:
        given = "refused the credentials given" if proxy.username else "wants credentials"
        why = (
            f"it {given}: check PROXY_USERNAME / PROXY_PASSWORD, or user:password@ in "
            f"{proxy.variable}"
        )
    elif status == 403:
        why = f"its policy refuses this destination: ask its operator to allow {target(url)}"
    else:
        why = "no tunnel to the server"
    return Failure(PROXY_CAUSE, f"{where} {answer}: {why}")


def handshake_failure(
    exc: aiohttp.WSServerHandshakeError, url: str, proxy: Proxy | None
) -> Failure:
    """An HTTP answer other than 101 to the upgrade (401 and 403 are the server's refusals and
    handled apart). Through a proxy a plain ``ws://`` upgrade is forwarded, not tunnelled, so
    the proxy's own 407 arrives here."""
    if proxy is not None and exc.status == 407:
        return _proxy_answer(exc.status, exc.message, url, proxy)
    return Failure("handshake", f"server refused the WebSocket upgrade: HTTP {exc.status}")


def connect_failure(exc: BaseException, url: str, proxy: Proxy | None, timeout: float) -> Failure:
    """A connect that failed before any answer from the server."""
    if proxy is not None:
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            return _proxy_answer(exc.status, exc.message, url, proxy)
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            error = exc.os_error
            # asyncio's strerror is "Connect call failed (...)"; the errno says it plainly.
            reason = os.strerror(error.errno) if error.errno else type(error).__name__
            return Failure(
                PROXY_CAUSE,
                f"cannot connect to proxy {proxy.url} ({proxy.variable}): {reason}",
            )
        if isinstance(exc, TimeoutError):
            return Failure(
                PROXY_CAUSE,
                f"proxy {proxy.url} ({proxy.variable}) opened no tunnel to {target(url)} within "
                f"{timeout:g}s (CONNECT_TIMEOUT_SECONDS): no answer to CONNECT",
            )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        hint = (
            "; a TLS-inspecting proxy re-signs it: put its CA in SERVER_CA_FILE"
            if proxy is not None
            else "; a private CA goes in SERVER_CA_FILE"
        )
        return Failure("connect", f"cannot verify the certificate of {url}{hint}")
    return Failure("connect", f"cannot reach {url}: {type(exc).__name__}")
