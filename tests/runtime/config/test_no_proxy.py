"""NO_PROXY in every form users write it: what matches, what does not, what is refused."""

from __future__ import annotations

import pytest

from runtime.config.no_proxy import NoProxy


def rules(*entries: str) -> NoProxy:
    return NoProxy.parse(entries)


@pytest.mark.parametrize("entry", ["corp.example", ".corp.example", "*.corp.example"])
@pytest.mark.parametrize(
    ("host", "bypassed"),
    [
        ("corp.example", True),
        ("api.corp.example", True),
        ("a.b.corp.example", True),
        ("CORP.Example.", True),
        ("notcorp.example", False),
        ("corp.example.org", False),
        ("example", False),
    ],
)
def test_a_domain_matches_itself_and_its_subdomains(entry: str, host: str, bypassed: bool) -> None:
    assert rules(entry).matches(host, 443) is bypassed


def test_star_matches_everything() -> None:
    assert rules("*").bypasses("wss://anything.example/ws")
    assert rules("*").matches("10.1.2.3", 1)
    # A star inside a name is not a wildcard.
    assert not rules("corp.example").matches("*", 443)


@pytest.mark.parametrize(
    ("entry", "host", "bypassed"),
    [
        ("10.0.0.0/8", "10.250.3.4", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("10.0.0.0/8", "fd00::1", False),
        ("192.168.1.7", "192.168.1.7", True),
        ("192.168.1.7", "192.168.1.8", False),
        ("fd00::/8", "fd12:3456::1", True),
        ("fd00::/8", "fe80::1", False),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("10.96.0.1", "kubernetes.default.svc", False),
        # Names are never resolved: an address does not match a name.
        ("127.0.0.1", "localhost", False),
    ],
)
def test_addresses_and_networks(entry: str, host: str, bypassed: bool) -> None:
    assert rules(entry).matches(host, 443) is bypassed


def test_a_port_restricts_the_match_to_that_port() -> None:
    no_proxy = rules("registry.corp.example:8443", "[::1]:8443", "10.1.1.1:6443")
    assert no_proxy.bypasses("wss://registry.corp.example:8443/ws")
    assert not no_proxy.bypasses("wss://registry.corp.example/ws")  # 443 by default
    assert no_proxy.bypasses("wss://[::1]:8443/ws")
    assert not no_proxy.bypasses("wss://[::1]:9443/ws")
    assert no_proxy.matches("10.1.1.1", 6443)
    assert not no_proxy.matches("10.1.1.1", 443)
    assert rules("host.example:80").bypasses("ws://host.example/ws")


def test_spaces_case_and_empty_entries() -> None:
    no_proxy = NoProxy.parse([" Corp.Example ,, ,10.0.0.0/8 ,", "Other.Example"])
    assert no_proxy.entries == ("corp.example", "10.0.0.0/8", "other.example")
    assert no_proxy.text == "corp.example,10.0.0.0/8,other.example"
    assert no_proxy.matches("API.CORP.EXAMPLE", 443)
    assert NoProxy.parse(["", " , "]).entries == ()
    assert not NoProxy.parse([""]).bypasses("wss://server.example/ws")


def test_duplicates_are_kept_once_in_their_first_place() -> None:
    assert NoProxy.parse(["a.example,b.example", "A.example"]).entries == (
        "a.example",
        "b.example",
    )


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("10.0.0.0/33", "CIDR"),
        ("10.0.0.0/8/8", "CIDR"),
        ("host.example:https", "port"),
        ("host.example:0", "port"),
        ("host.example:70000", "port"),
        ("[::1", "IPv6"),
        ("[10.0.0.1]:80", "IPv6"),
        ("[::1]x", "IPv6"),
        (":8080", "host name"),
        ("user@host", "host name"),
    ],
)
def test_what_cannot_be_meant_is_refused_naming_the_entry(entry: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        NoProxy.parse([f"ok.example,{entry}"])
    assert repr(entry) in str(caught.value)


def test_a_url_without_a_host_is_never_bypassed() -> None:
    assert not rules("*").bypasses("not a url")
    assert rules("corp.example").bypasses("https://api.corp.example")
