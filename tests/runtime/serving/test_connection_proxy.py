"""The runner behind a real egress proxy (squid, tests/squid_proxy.py) in front of the reference
server over TLS with a private CA. What went through the proxy is read from squid's own access
log; what the runner says is read from its log records, captured at DEBUG.

The server listens on 127.0.0.2: 127.0.0.1 and localhost always bypass the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.devkit.reference_server import ReferenceServer
from runtime.observability.logsetup import REDACTED
from runtime.serving.app import Runner
from tests.conftest import AGENT, MakeRunner, free_port, http_get, sample, wait_for
from tests.squid_proxy import LogLine, Squid, running_squid
from tests.tlsutil import make_ca_and_server_cert

HOST = "127.0.0.2"
USER = "runner-bot"
PASSWORD = "squid-" + secrets.token_hex(8)


class TlsServer(ReferenceServer):
    """The reference server over TLS, with the private CA that signed its certificate."""

    ca_file = ""


@pytest.fixture
async def tls_server(server: ReferenceServer, tmp_path: Path) -> AsyncIterator[TlsServer]:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    secure = TlsServer(server.tokens)
    secure.ca_file = str(ca)
    await secure.start(host=HOST, ssl_context=context)
    yield secure
    await secure.stop()


@pytest.fixture
def squid(tls_server: TlsServer) -> Iterator[Squid]:
    assert tls_server.port is not None
    with running_squid({USER: PASSWORD}, [tls_server.port]) as proxy:
        yield proxy


class Records:
    """The runner's log records of the test's call phase (caplog's list is new per phase)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(list(self._caplog.records))


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Records:
    caplog.set_level(logging.DEBUG)
    return Records(caplog)


def env_for(server: TlsServer, **overrides: str) -> dict[str, str]:
    return {
        "SERVER_URL": server.ws_url(HOST),
        "ALLOW_INSECURE_WS": "false",
        "SERVER_CA_FILE": server.ca_file,
        "CONNECT_TIMEOUT_SECONDS": "2",
        **overrides,
    }


def texts(records: Records) -> list[str]:
    """Every captured line with its arguments and extras, as a leak would show up."""
    return [f"{r.getMessage()} {vars(r)!r}" for r in records if r.name.startswith("runtime")]


def assert_no_secret_in(records: Records, *secret: str) -> None:
    captured = texts(records)
    assert captured, "the DEBUG capture saw nothing"
    for line in captured:
        for value in secret:
            assert value not in line
        # Nothing had to be scrubbed by the redactor either.
        assert REDACTED not in line
    assert not [r for r in records if r.exc_info], "a traceback was logged"


async def failures(runner: Runner, cause: str) -> float:
    _, text = await http_get(f"http://127.0.0.1:{runner.port}/metrics")
    prefix = f'hybrid_runner_connection_failures_total{{cause="{cause}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def connects(squid: Squid) -> list[LogLine]:
    return [line for line in squid.log_lines() if line.method == "CONNECT"]


def warnings_of(records: Records, fragment: str) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.levelno == logging.WARNING and fragment in r.getMessage()
    ]


@pytest.mark.parametrize("credentials", ["variables", "url"])
async def test_the_websocket_is_tunnelled_through_the_proxy_as_its_user(
    tls_server: TlsServer,
    squid: Squid,
    make_runner: MakeRunner,
    records: Records,
    credentials: str,
) -> None:
    if credentials == "variables":
        proxy = {"HTTPS_PROXY": squid.url, "PROXY_USERNAME": USER, "PROXY_PASSWORD": PASSWORD}
    else:
        proxy = {"https_proxy": f"http://{USER}:{PASSWORD}@127.0.0.1:{squid.port}"}
    await make_runner(**env_for(tls_server, **proxy))
    reply = await tls_server.request(AGENT, sample("status.json"))
    assert reply["result"]["connected"] is True
    # Squid logs a tunnel when it closes.
    await tls_server.disconnect(AGENT)
    await wait_for(lambda: bool(connects(squid)))
    line = connects(squid)[0]
    assert (line.status, line.url, line.user) == (
        "TCP_TUNNEL/200",
        f"{HOST}:{tls_server.port}",
        USER,
    ), line.raw
    target = f"connecting to wss://{HOST}:{tls_server.port}/ws via proxy {squid.url}"
    assert target in [r.getMessage() for r in records]
    assert_no_secret_in(records, PASSWORD, next(iter(tls_server.tokens)))


@pytest.mark.parametrize("password", ["wrong-password", None])
async def test_refused_credentials_are_one_clear_line_and_the_normal_backoff(
    tls_server: TlsServer,
    squid: Squid,
    make_runner: MakeRunner,
    records: Records,
    password: str | None,
) -> None:
    proxy = {"HTTPS_PROXY": squid.url}
    if password:
        proxy |= {"PROXY_USERNAME": USER, "PROXY_PASSWORD": password}
    runner = await make_runner(connect=False, **env_for(tls_server, **proxy))
    await wait_for(lambda: len(warnings_of(records, "407")) >= 3)
    assert not runner.context.runner.connected
    assert (await http_get(f"http://127.0.0.1:{runner.port}/readyz"))[0] == 503
    assert await failures(runner, "proxy") >= 3
    assert runner.connection.sessions >= 3  # retried at the normal pace, not the auth pause
    line = warnings_of(records, "407")[0]
    assert line.startswith(
        f"proxy {squid.url} (HTTPS_PROXY) answered the CONNECT to {HOST}:{tls_server.port} "
        "with 407 Proxy Authentication Required: it "
    )
    assert ("refused the credentials given" if password else "wants credentials") in line
    assert "PROXY_USERNAME / PROXY_PASSWORD" in line
    # One warning per attempt: the 407 line and nothing else.
    attempts = [r for r in records if r.getMessage().startswith("connecting to")]
    assert len([r for r in records if r.levelno >= logging.WARNING]) <= len(attempts)
    denied = [x for x in connects(squid) if x.status == "TCP_DENIED/407"]
    assert denied and denied[0].url == f"{HOST}:{tls_server.port}"
    assert server_never_reached(tls_server)
    assert_no_secret_in(records, PASSWORD, "wrong-password", next(iter(tls_server.tokens)))


def server_never_reached(server: ReferenceServer) -> bool:
    return server.connection_attempts == 0


async def test_a_destination_the_proxy_refuses_is_named(
    tls_server: TlsServer,
    make_runner: MakeRunner,
    records: Records,
) -> None:
    assert tls_server.port is not None
    # This squid lets CONNECT through to another port only.
    with running_squid({USER: PASSWORD}, [tls_server.port + 1]) as squid:
        proxy = {"HTTPS_PROXY": squid.url, "PROXY_USERNAME": USER, "PROXY_PASSWORD": PASSWORD}
        runner = await make_runner(connect=False, **env_for(tls_server, **proxy))
        await wait_for(lambda: bool(warnings_of(records, "403")))
    line = warnings_of(records, "403")[0]
    assert line.endswith(
        "with 403 Forbidden: its policy refuses this destination: ask its operator to allow "
        f"{HOST}:{tls_server.port}"
    )
    assert await failures(runner, "proxy") >= 1
    assert server_never_reached(tls_server)


async def test_no_proxy_connects_directly(
    tls_server: TlsServer,
    squid: Squid,
    make_runner: MakeRunner,
    records: Records,
) -> None:
    proxy = {
        "HTTPS_PROXY": squid.url,
        "PROXY_USERNAME": USER,
        "PROXY_PASSWORD": PASSWORD,
        "NO_PROXY": "other.example, 127.0.0.0/8",
    }
    runner = await make_runner(**env_for(tls_server, **proxy))
    await tls_server.disconnect(AGENT)
    await wait_for(lambda: tls_server.agents[AGENT].sessions == 2)
    assert runner.context.runner.connected or await asyncio.wait_for(
        runner.connection.connected_event.wait(), 10
    )
    target = f"connecting to wss://{HOST}:{tls_server.port}/ws directly (NO_PROXY)"
    assert target in [r.getMessage() for r in records]
    # Two sessions, closed and opened again: a tunnel would have been logged by now.
    await asyncio.sleep(0.5)
    assert connects(squid) == []


async def test_a_proxy_that_refuses_connections_is_named(
    tls_server: TlsServer, make_runner: MakeRunner, records: Records
) -> None:
    closed = free_port()  # nobody listens there
    runner = await make_runner(
        connect=False, **env_for(tls_server, HTTPS_PROXY=f"http://127.0.0.1:{closed}")
    )
    await wait_for(lambda: len(warnings_of(records, "cannot connect to proxy")) >= 2)
    line = warnings_of(records, "cannot connect to proxy")[0]
    assert (
        line
        == f"cannot connect to proxy http://127.0.0.1:{closed} (HTTPS_PROXY): Connection refused"
    )
    assert await failures(runner, "proxy") >= 2
    assert not [r for r in records if r.exc_info]


async def test_a_connect_never_answered_times_out_with_one_line(
    tls_server: TlsServer, make_runner: MakeRunner, records: Records
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        runner = await make_runner(
            connect=False,
            **env_for(
                tls_server, HTTPS_PROXY=f"http://127.0.0.1:{port}", CONNECT_TIMEOUT_SECONDS="0.5"
            ),
        )
        await wait_for(lambda: len(warnings_of(records, "opened no tunnel")) >= 2)
    finally:
        for writer in held:
            writer.close()
        silent.close()
    line = warnings_of(records, "opened no tunnel")[0]
    assert line == (
        f"proxy http://127.0.0.1:{port} (HTTPS_PROXY) opened no tunnel to {HOST}:"
        f"{tls_server.port} within 0.5s (CONNECT_TIMEOUT_SECONDS): no answer to CONNECT"
    )
    assert await failures(runner, "proxy") >= 2
    assert (await http_get(f"http://127.0.0.1:{runner.port}/healthz"))[0] == 200
    assert not [r for r in records if r.exc_info]


async def test_a_plain_ws_url_is_forwarded_through_http_proxy_with_its_credentials(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    plain = ReferenceServer(server.tokens)
    await plain.start(host=HOST)
    # Squid forwards a WebSocket upgrade of plain HTTP only when told to.
    upgrades = ["http_upgrade_request_protocols websocket allow all"]
    try:
        with running_squid({USER: PASSWORD}, [], upgrades) as squid:
            proxy = {"HTTP_PROXY": squid.url, "PROXY_USERNAME": USER, "PROXY_PASSWORD": PASSWORD}
            await make_runner(SERVER_URL=plain.ws_url(HOST), **proxy)
            await plain.disconnect(AGENT)
            await wait_for(lambda: any(x.method == "GET" for x in squid.log_lines()))
            line = next(x for x in squid.log_lines() if x.method == "GET")
    finally:
        await plain.stop()
    assert (line.status, line.url, line.user) == (
        "TCP_TUNNEL/101",
        f"http://{HOST}:{plain.port}/ws",
        USER,
    ), line.raw
