"""What the end of a session means for the next attempt: protocol v1's application close codes,
how each is classified, and the exponential backoff between ordinary retries.

Kept apart from the connection so the reference server and the tests share the close codes
without importing the runner's socket loop.
"""

from __future__ import annotations

import enum
import random

import attrs

# Application close codes of protocol v1 (docs/protocol.md).
CLOSE_BAD_TOKEN = 4401
CLOSE_NOT_ALLOWED = 4403
CLOSE_UNSUPPORTED_PROTOCOL = 4400
CLOSE_AGENT_CONNECTED = 4409


class Outcome(enum.Enum):
    """How a session ended, which sets the pause before the next attempt."""

    RETRY = "retry"
    AUTH = "auth"
    STANDBY = "standby"
    STOPPED = "stopped"


def classify_close(code: int | None) -> Outcome:
    if code in (CLOSE_BAD_TOKEN, CLOSE_NOT_ALLOWED, CLOSE_UNSUPPORTED_PROTOCOL):
        return Outcome.AUTH
    if code == CLOSE_AGENT_CONNECTED:
        return Outcome.STANDBY
    return Outcome.RETRY


@attrs.define
class Backoff:
    """Exponential backoff with +-20% jitter; reset after every accepted session."""

    base: float
    ceiling: float
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.ceiling, self.base * (2**self.attempt))
        self.attempt += 1
        return float(delay * random.uniform(0.8, 1.2))

    def reset(self) -> None:
        self.attempt = 0
