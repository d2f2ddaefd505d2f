"""One variable = one attrs field: ``setting(...)`` puts its environment name, parser, default and
meaning in the field's metadata, and ``variables_of`` reads them back in declaration order.

``Settings.from_env`` parses the environment with them and README's configuration table is
generated from them, so a variable is never declared twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from runtime.config.env_parsers import Parser

_KEY = "runtime.variable"


@attrs.frozen
class Variable:
    """One environment variable: where it goes, how it is parsed, what it means."""

    name: str
    field: str
    parse: Parser
    default: Any
    doc: str
    secret: bool = False
    default_doc: str | None = None
    #: A blank value means "none" (``None``) instead of the default.
    blank_is_none: bool = False
    #: Read when ``name`` is unset or empty (``AWS_REGION`` for ``AWS_DEFAULT_REGION``).
    fallback: str | None = None
    #: Another spelling read first, winning when both are set and not empty: the lower-case
    #: proxy variables (``https_proxy`` for ``HTTPS_PROXY``), as curl reads them.
    alias: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling the runner reads."""
        return (self.name,) if self.alias is None else (self.name, self.alias)


def setting(
    name: str,
    parse: Parser,
    default: Any,
    doc: str,
    *,
    secret: bool = False,
    default_doc: str | None = None,
    blank_is_none: bool = False,
    fallback: str | None = None,
    alias: str | None = None,
) -> Any:
    """An attrs field read from the environment variable ``name`` (a secret is kept out of the
    repr). The field has no attrs default: ``Settings.from_env`` supplies every value.

    A group is ``attrs.frozen(kw_only=True, slots=False)``: ``Settings`` inherits from every
    group, and slotted classes cannot be combined that way."""
    variable = Variable(
        name, "", parse, default, doc, secret, default_doc, blank_is_none, fallback, alias
    )
    return attrs.field(repr=not secret, metadata={_KEY: variable})


def variables_of(group: type[Any]) -> Iterator[Variable]:
    """The variables of one settings group, in declaration order, each knowing its field."""
    for field in attrs.fields(group):
        variable = field.metadata.get(_KEY)
        if variable is not None:
            yield attrs.evolve(variable, field=field.name)
