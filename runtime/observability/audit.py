"""The audit trail of the operator's boundary: one JSON line per refused request.

Why apart: refusals come from several rules (``runtime.executors.images.ImagePolicy``,
``runtime.secrets.scope.SecretScope``) and are answered by the dispatcher; an operator wants
them in one recognisable shape to grep, ship and alert on, whatever LOG_FORMAT is
(``runtime.observability.logsetup`` writes records carrying ``audit`` fields as JSON).
"""

from __future__ import annotations

import logging
from typing import Any

from runtime.wire.errors import Refused

audit_log = logging.getLogger("runtime.observability.audit")
#: Every rule that can refuse, for the counter's labels.
RULES = ("image", "secret_reference")


def audit(refusal: Refused, *, request_id: str, message_type: str, run_id: str | None) -> None:
    """Log the refusal as one audit line (its fields: what was asked, the rule, the ids)."""
    fields: dict[str, Any] = {
        "event": "refused",
        "rule": refusal.rule,
        "reason": refusal.reason,
        "request_id": request_id,
        "message_type": message_type,
        "run_id": run_id,
        "asked": list(refusal.asked),
    }
    audit_log.warning(
        "%s refused by rule %s: %s",
        message_type,
        refusal.rule,
        refusal.message,
        extra={"audit": fields},
    )
