"""logs: one chunk of a run's log, paged like OpenMetadata's ingestion log API.

The cursor ``after`` is a byte offset sent as a decimal string; each reply carries at most
``LOG_CHUNK_BYTES`` (64 KiB) of log, the offset to ask from next, and the log's size so far. The
last chunk of a finished run has no ``after``. Sync: the Kubernetes executors read the pod's log
through the API.
"""

from __future__ import annotations

import re

from runtime.api import Context, InvalidMessage, Logs, LogsResult

_OFFSET = re.compile(r"[0-9]{1,18}")


def handle(msg: Logs, ctx: Context) -> LogsResult:
    after = 0
    if msg.after is not None and msg.after != "":
        if not _OFFSET.fullmatch(msg.after):
            raise InvalidMessage(
                f"$.after: expected a byte offset as a decimal string (the after of the previous "
                f'reply, e.g. "65536"), got {msg.after[:40]!r}'
            )
        after = int(msg.after)
    chunk = ctx.executor.logs(msg.run_id, after)
    return LogsResult(
        run_id=msg.run_id,
        content=chunk.content,
        total=chunk.total,
        after=None if chunk.after is None else str(chunk.after),
    )
