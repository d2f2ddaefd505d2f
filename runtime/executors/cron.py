"""Checks for ``deploy_pipeline``'s schedule: a five-field cron expression and an IANA time zone.

Both Argo's CronWorkflow and Kubernetes' CronJob parse schedules with the standard parser of
``robfig/cron``: five fields (minute, hour, day of month, month, day of week), each a list of
``*``, ``?`` (day fields only), ``N`` or ``N-M``, optionally with ``/STEP``; months and weekdays
also by their three-letter English names. Checking the same grammar here turns a typo into an
``invalid_message`` reply naming ``$.schedule`` instead of an object the controller refuses or,
worse, accepts and never runs. Descriptors (``@daily``) and ``CRON_TZ=`` prefixes are refused:
the protocol has five fields and a separate ``timezone``.
"""

from __future__ import annotations

import functools
import re
import zoneinfo

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: (name, lowest, highest, names) per field, in order.
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS),
)
_RANGE = re.compile(r"^(?P<range>\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")


class CronError(ValueError):
    """A schedule the cron controllers would refuse; the message says which part and why."""


def check_cron(expression: str) -> str:
    """``expression`` normalised to single spaces, or ``CronError`` saying what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"{expression!r} has {len(fields)} field(s); a schedule has exactly five: minute "
            "hour day-of-month month day-of-week, e.g. '0 2 * * *' (daily at 02:00); send the "
            "time zone in timezone"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.split(","):
            _check_part(part, name, low, high, names, day=name.startswith("day"))
    return " ".join(fields)


def _check_part(
    part: str, field: str, low: int, high: int, names: tuple[str, ...], day: bool
) -> None:
    match = _RANGE.match(part)
    if not match:
        raise CronError(f"{field} field: {part!r} is not N, N-M, * or a step like */5")
    value_range, step = match.group("range"), match.group("step")
    if value_range == "?" and not day:
        raise CronError(f"{field} field: '?' is allowed only in the day fields")
    if step is not None and int(step) == 0:
        raise CronError(f"{field} field: step 0 in {part!r}")
    if value_range in ("*", "?"):
        return
    bounds = [_value(v, field, low, high, names) for v in value_range.split("-")]
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise CronError(f"{field} field: range {value_range!r} runs backwards")


def _value(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit():
        what = f" or one of {', '.join(names)}" if names else ""
        raise CronError(f"{field} field: {text!r} is not a number{what}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field} field: {value} is outside {low}-{high}")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone (``Europe/Madrid``, ``UTC``), else ``ValueError``."""
    if name not in _zones():
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Madrid')")
    return name
