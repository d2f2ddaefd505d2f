"""How one environment variable's text becomes a value: the parsers ``runtime.settings`` names.

They live apart from the variable table so that ``settings.py`` stays the list of variables and
their meanings. Each parser raises ``ValueError`` with a message that reads well after the
variable's name (``Settings.from_env`` turns it into a ``ConfigError`` naming the variable).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from runtime.config.no_proxy import NoProxy
from runtime.config.pipeline_types import PIPELINE_TYPES, suggest

Parser = Callable[[str], Any]


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def int_range(low: int, high: int) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected an integer between {low} and {high}, got {value}")
        return value

    return parse


def positive_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {raw!r}")
    return value


def choice(choices: Collection[str], *, fold_case: bool = False) -> Parser:
    """One of ``choices``, read at each call: a registry (a dict) accepts what is added later."""

    def parse(raw: str) -> str:
        value = raw.strip()
        for option in choices:
            if value == option or (fold_case and value.lower() == option.lower()):
                return option
        raise ValueError(f"expected one of {', '.join(choices)}; got {raw!r}")

    return parse


def text(raw: str) -> str:
    return raw.strip()


def csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def command(raw: str) -> tuple[str, ...]:
    try:
        parts = tuple(shlex.split(raw))
    except ValueError as exc:
        raise ValueError(f"cannot split as a command line: {exc}") from None
    if not parts:
        raise ValueError("expected a command line, got an empty value")
    return parts


def json_object(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def per_type_limits(raw: str) -> dict[str, int]:
    """A JSON object of pipeline type -> a positive integer (``{"profiler": 2}``)."""
    out: dict[str, int] = {}
    for pipeline_type, value in json_object(raw).items():
        if pipeline_type not in PIPELINE_TYPES:
            raise ValueError(f"$.{pipeline_type}: unknown pipeline type{suggest(pipeline_type)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"$.{pipeline_type}: expected a positive integer, got {value!r}")
        out[pipeline_type] = value
    return out


def extra_envs(raw: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs separated by commas, a JSON object of strings, or the public Collate
    chart's ``[KEY:VALUE,KEY2:VALUE2]`` form."""
    text = raw.strip()
    if not text:
        return {}
    if text.startswith("[") and text.endswith("]"):
        pairs: dict[str, str] = {}
        for part in text[1:-1].split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"expected [KEY:VALUE,...]; bad pair {part!r}")
            pairs[key.strip()] = value.strip()
        return pairs
    if text.startswith("{"):
        obj = json_object(text)
        bad = [k for k, v in obj.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"values must be strings; not for {', '.join(bad)}")
        return {str(k): str(v) for k, v in obj.items()}
    envs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE pairs separated by commas; bad pair {part!r}")
        envs[key.strip()] = value
    return envs


def server_url(raw: str) -> str:
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        raise ValueError(f"expected a wss:// (or ws://) URL, got {value!r}")
    return value


def with_scheme(url: str) -> str:
    """A proxy URL written without a scheme (``proxy.corp:3128``) is ``http://``, as in curl."""
    return url if "://" in url else "http://" + url


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed: the form that may be shown or logged."""
    parts = urlsplit(with_scheme(url))
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def proxy_url(raw: str) -> str:
    """An HTTP proxy: ``http://[user:password@]host:port``, no scheme meaning ``http://``. The
    messages show the URL without its credentials."""
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(with_scheme(value))
    shown = without_userinfo(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(
            f"expected an http:// proxy URL, got {shown!r} (SOCKS and other schemes are not "
            "supported: the WebSocket is tunnelled with HTTP CONNECT)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {shown!r}") from None
    if not parts.hostname or port == 0 or parts.path.strip("/") or parts.query:
        raise ValueError(f"expected http://host:port, got {shown!r}")
    return with_scheme(value)


def no_proxy_list(raw: str) -> tuple[str, ...]:
    """NO_PROXY entries (``runtime.config.no_proxy`` says what each form means), checked here."""
    return NoProxy.parse([raw]).entries


def cidr_list(raw: str) -> tuple[str, ...]:
    """Comma-separated IPv4/IPv6 networks (``10.96.0.0/12,fd00:10:96::/112``). The prefix is
    required: ``10.96.0.0`` alone would silently mean one address."""
    out = []
    for entry in csv(raw):
        try:
            if "/" not in entry:
                raise ValueError(entry)
            out.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IPv4 or IPv6 network (CIDR, such as 10.96.0.0/12)"
            ) from None
    return tuple(out)


_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def kubernetes_name(raw: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain), or empty."""
    value = raw.strip()
    if value and not _K8S_NAME.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes object name (lower-case DNS-1123)")
    return value


def json_type(value: Any) -> str:
    """How a message names the type of a JSON (or YAML) value: ``a list``, ``an object``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
