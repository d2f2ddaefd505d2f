"""The proxy settings as the runner reads and applies them: spellings, credentials, the
effective NO_PROXY, the route of the WebSocket, what is exported, and what is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.egress import proxy
from runtime.settings import Settings
from runtime.wire.errors import ConfigError

BASE = {"AGENT_ID": "a", "AUTH_TOKEN": "t0ken-value", "SERVER_URL": "wss://saas.example/ws"}
PASSWORD = "p@ss:w/rd-" + "x" * 8


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def test_lower_case_wins_when_both_spellings_are_set() -> None:
    s = settings(
        HTTPS_PROXY="http://upper.corp:3128",
        https_proxy="http://lower.corp:3128",
        NO_PROXY="upper.example",
        no_proxy="lower.example",
        HTTP_PROXY="http://plain-upper.corp:80",
    )
    assert s.https_proxy == "http://lower.corp:3128"
    assert s.no_proxy == ("lower.example",)
    assert s.http_proxy == "http://plain-upper.corp:80"
    # An empty lower-case value counts as unset.
    assert settings(HTTPS_PROXY="http://upper.corp:3128", https_proxy=" ").https_proxy == (
        "http://upper.corp:3128"
    )


def test_credentials_come_from_the_url_or_the_variables_and_never_show() -> None:
    from_url = settings(HTTPS_PROXY="http://bob:p%40ss%3Aw%2Frd-xxxxxxxx@proxy.corp:3128")
    (via,) = proxy.proxies(from_url).values()
    assert (via.url, via.username, via.password) == ("http://proxy.corp:3128", "bob", PASSWORD)
    from_vars = settings(
        HTTPS_PROXY="proxy.corp:3128", PROXY_USERNAME="bob", PROXY_PASSWORD=PASSWORD
    )
    (via,) = proxy.proxies(from_vars).values()
    assert (via.url, via.username, via.password) == ("http://proxy.corp:3128", "bob", PASSWORD)
    for s in (from_url, from_vars):
        assert PASSWORD not in repr(s) and "p%40ss" not in repr(s)
        assert PASSWORD not in repr(proxy.proxies(s))
        assert proxy.describe_route(s, s.websocket_url) == " via proxy http://proxy.corp:3128"


def test_the_route_follows_the_scheme_and_no_proxy() -> None:
    s = settings(
        HTTPS_PROXY="http://secure.corp:3128",
        HTTP_PROXY="http://plain.corp:3128",
        NO_PROXY=".corp.example,10.0.0.0/8",
        KUBERNETES_SERVICE_HOST="172.20.0.1",
    )
    assert proxy.route(s, "wss://saas.example/ws").url == "http://secure.corp:3128"  # type: ignore[union-attr]
    assert proxy.route(s, "ws://saas.example/ws").url == "http://plain.corp:3128"  # type: ignore[union-attr]
    for direct in (
        "wss://runner.corp.example/ws",
        "wss://10.1.2.3/ws",
        "wss://172.20.0.1/ws",
        "wss://svc.ns.svc/ws",
        "wss://a.b.svc.cluster.local/ws",
        "wss://localhost:8443/ws",
        "wss://127.0.0.1/ws",
        "wss://[::1]/ws",
    ):
        assert proxy.route(s, direct) is None, direct
        assert proxy.describe_route(s, direct) == " directly (NO_PROXY)"
    # curl's rule: wss:// takes HTTPS_PROXY only.
    assert proxy.route(settings(HTTP_PROXY="http://plain.corp:3128"), "wss://x.example/ws") is None
    assert proxy.describe_route(settings(), "wss://x.example/ws") == ""


def test_the_effective_no_proxy_adds_what_is_always_direct() -> None:
    s = settings(
        NO_PROXY=" corp.example ",
        KUBERNETES_SERVICE_HOST="10.96.0.1",
        KUBERNETES_SERVICE_CIDR="10.96.0.0/12, fd00:10:96::/112",
    )
    assert proxy.effective_no_proxy(s).text == (
        "corp.example,10.96.0.1,.svc,.cluster.local,localhost,127.0.0.1,::1,"
        "10.96.0.0/12,fd00:10:96::/112"
    )
    assert proxy.effective_no_proxy(settings()).entries == proxy.ALWAYS_DIRECT


def test_the_exported_environment_has_both_spellings_with_credentials_encoded() -> None:
    s = settings(
        HTTPS_PROXY="http://proxy.corp:3128", PROXY_USERNAME="bob", PROXY_PASSWORD=PASSWORD
    )
    environ: dict[str, str] = {"https_proxy": "http://other:1", "KEEP": "1"}
    exported = proxy.export_environment(s, environ)
    url = "http://bob:p%40ss%3Aw%2Frd-xxxxxxxx@proxy.corp:3128"
    assert environ["HTTPS_PROXY"] == environ["https_proxy"] == url
    assert environ["NO_PROXY"] == environ["no_proxy"] == proxy.effective_no_proxy(s).text
    assert environ["KEEP"] == "1" and "HTTP_PROXY" not in environ
    assert exported == {k: v for k, v in environ.items() if k != "KEEP"}
    assert proxy.process_environment(s, mask=True)["HTTPS_PROXY"] == (
        "http://***:***@proxy.corp:3128"
    )
    untouched: dict[str, str] = {}
    assert proxy.export_environment(settings(), untouched) == {} and untouched == {}
    assert set(proxy.secrets(s)) == {PASSWORD, "p%40ss%3Aw%2Frd-xxxxxxxx"}


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"HTTPS_PROXY": "socks5://u:pw-secret@h:1080"}, "HTTPS_PROXY", "SOCKS"),
        ({"https_proxy": "http://u:pw-secret@h:port"}, "https_proxy", "bad port"),
        ({"HTTP_PROXY": "http://u:pw-secret@h:3128/path"}, "HTTP_PROXY", "host:port"),
        ({"NO_PROXY": "10.0.0.0/40"}, "NO_PROXY", "CIDR"),
        ({"no_proxy": "a.example:http"}, "no_proxy", "port"),
        ({"KUBERNETES_SERVICE_CIDR": "10.96.0.0"}, "KUBERNETES_SERVICE_CIDR", "10.96.0.0"),
        ({"KUBERNETES_SERVICE_CIDR": "nope"}, "KUBERNETES_SERVICE_CIDR", "CIDR"),
        ({"KUBERNETES_SERVICE_HOST": "a b"}, "KUBERNETES_SERVICE_HOST", "host name"),
        ({"PROXY_CREDENTIALS_SECRET": "Corp_Proxy"}, "PROXY_CREDENTIALS_SECRET", "Kubernetes"),
        ({"PROXY_PASSWORD": "pw-secret"}, "PROXY_PASSWORD", "PROXY_USERNAME"),
        (
            {"HTTPS_PROXY": "http://u:pw-secret@h:3128", "PROXY_USERNAME": "u"},
            "HTTPS_PROXY",
            "give the credentials once",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_variable_without_the_password(
    env: dict[str, str], variable: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    assert caught.value.variable == variable
    assert fragment in caught.value.problem
    assert "pw-secret" not in str(caught.value)


@pytest.mark.parametrize("executor", ["argo", "simpleK8s"])
def test_inline_credentials_are_refused_when_pods_would_get_them(executor: str) -> None:
    inline = {"EXECUTOR_TYPE": executor, "HTTPS_PROXY": "http://u:pw-secret@proxy.corp:3128"}
    with pytest.raises(ConfigError) as caught:
        settings(**inline)
    assert caught.value.variable == "HTTPS_PROXY"
    assert "PROXY_CREDENTIALS_SECRET" in caught.value.problem
    assert "pw-secret" not in str(caught.value)
    settings(**inline, PROXY_CREDENTIALS_SECRET="corp-proxy")
    settings(**inline, INGESTION_PROXY_ENABLED="false")
    settings(**{**inline, "EXECUTOR_TYPE": "local"})


def test_start_up_notes() -> None:
    no_secret = settings(
        EXECUTOR_TYPE="simpleK8s", HTTPS_PROXY="http://p:1", PROXY_USERNAME="u", PROXY_PASSWORD="x"
    )
    assert proxy.start_up_notes(no_secret, runs_pods=True) == [
        "PROXY_USERNAME is set but PROXY_CREDENTIALS_SECRET is not: ingestion pods get the "
        "proxy without credentials"
    ]
    assert proxy.start_up_notes(no_secret, runs_pods=False) == []
    assert proxy.start_up_notes(settings(PROXY_CREDENTIALS_SECRET="s"), runs_pods=True) == [
        "PROXY_CREDENTIALS_SECRET is set but no HTTPS_PROXY or HTTP_PROXY"
    ]


def test_a_bad_proxy_stops_start_up_with_exit_2_and_no_password(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runtime"],
        env={**BASE, "HTTPS_PROXY": "ftp://u:pw-secret@h:21", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: HTTPS_PROXY: expected an http://")
    assert "pw-secret" not in result.stderr + result.stdout
