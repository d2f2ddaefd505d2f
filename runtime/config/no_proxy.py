"""NO_PROXY as users write it, and whether a host and port match it.

There is no standard: curl, Go, Python's ``urllib`` and the JVM each read the variable their own
way, and ``urllib.request.proxy_bypass`` knows no CIDR. The runner must decide once which hosts
bypass the egress proxy (the WebSocket here; the same list goes to ingestion pods and the cloud
SDKs), so this is the one reading, pure and tested on its own:

* entries are separated by commas; spaces around them and empty entries are ignored; case is not
  significant;
* ``*`` matches every host;
* ``corp.example``, ``.corp.example`` and ``*.corp.example`` all match ``corp.example`` and every
  name under it (not ``notcorp.example``);
* an IP address matches that address only, an IPv4 or IPv6 CIDR (``10.0.0.0/8``, ``fd00::/8``)
  every address in it; names are never resolved, so ``127.0.0.1`` does not match ``localhost``;
* ``host:port`` and ``[v6-address]:port`` match only that port (the URL's explicit port, else its
  scheme's default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

import attrs

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


@attrs.frozen
class Rule:
    """One entry: every host, a network (an address is a /32 or /128), or a domain."""

    everything: bool = False
    network: IPNetwork | None = None
    domain: str = ""
    port: int | None = None

    def matches(self, host: str, address: IPNetwork | None, port: int | None) -> bool:
        if self.everything:
            return True
        if self.port is not None and port != self.port:
            return False
        if self.network is not None:
            network = self.network
            return (
                address is not None
                and address.version == network.version
                and address.subnet_of(network)  # type: ignore[arg-type]
            )
        return address is None and (host == self.domain or host.endswith("." + self.domain))


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def _address(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def parse_entry(entry: str) -> Rule:
    """One entry, already stripped and lower-cased; ``ValueError`` for what cannot be meant."""
    if entry == "*":
        return Rule(everything=True)
    if entry.startswith("["):
        inside, bracket, rest = entry[1:].partition("]")
        network = _address(inside)
        if not bracket or network is None or network.version != 6:
            raise ValueError(f"{entry!r}: expected [IPv6-address] or [IPv6-address]:port")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{entry!r}: expected [IPv6-address]:port")
        return Rule(network=network, port=_port(rest[1:], entry) if rest else None)
    if "/" in entry:
        network = _address(entry)
        if network is None:
            raise ValueError(f"{entry!r} is not an IPv4 or IPv6 network (CIDR)")
        return Rule(network=network)
    network = _address(entry)
    if network is not None:  # a bare address, IPv6 ones included (``::1``)
        return Rule(network=network)
    host, colon, port_text = entry.rpartition(":")
    port = _port(port_text, entry) if colon else None
    name = host if colon else entry
    network = _address(name)
    if network is not None:
        return Rule(network=network, port=port)
    domain = name.removeprefix("*.").lstrip(".").rstrip(".")
    if not domain or any(c.isspace() or c in "/@*[]" for c in domain):
        raise ValueError(f"{entry!r} is not a host name, a domain, an IP address or a CIDR")
    return Rule(domain=domain, port=port)


def split(text: str) -> tuple[str, ...]:
    """The entries of a NO_PROXY value, stripped and lower-cased, empty ones left out."""
    return tuple(e.strip().lower() for e in text.split(",") if e.strip())


@attrs.frozen
class NoProxy:
    """A parsed NO_PROXY list; ``entries`` keep their written form (for the pods' variable)."""

    entries: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = attrs.field(default=(), repr=False, eq=False)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> NoProxy:
        """Raises ``ValueError`` naming the first entry that cannot be read."""
        unique = tuple(dict.fromkeys(e for text in entries for e in split(text)))
        return cls(unique, tuple(parse_entry(e) for e in unique))

    @property
    def text(self) -> str:
        return ",".join(self.entries)

    def matches(self, host: str, port: int | None = None) -> bool:
        """Whether ``host`` (a name or an address, brackets allowed) bypasses the proxy."""
        host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
        address = _address(host) if host else None
        if address is not None and address.num_addresses != 1:
            address = None  # "10.0.0.0/8" is not a host
        return any(rule.matches(host, address, port) for rule in self.rules)

    def bypasses(self, url: str) -> bool:
        """Whether ``url`` is reached directly: its host and port (or its scheme's default)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:
            port = None
        return bool(host) and self.matches(host, port)
