"""Local invoke of one handler with a message file, like ``sam local invoke`` for this runner.

The file is decoded by the real codec and answered by the real dispatcher, handler and executor,
so what works here works on the wire. With ``--dry-run`` the executor renders what it would
create (Kubernetes manifests, or the local process description) as multi-document YAML on
stdout, and the reply goes to stderr so stdout can be piped to ``kubectl apply --dry-run``. A
run's config Secret is printed with its data redacted unless ``--reveal-config`` asks for it.
There is no server, so no server version unless ``--server-version`` names one: with it the
ingestion image tag is derived as after a real server's welcome.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

import yaml

from runtime.composition import build_context, build_dispatcher, running
from runtime.settings import Settings
from runtime.wire import codec


async def invoke(
    message_file: str,
    settings: Settings,
    *,
    dry_run: bool = False,
    server_version: str = "",
    reveal_config: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        text = await asyncio.to_thread(Path(message_file).read_bytes)
    except OSError as exc:
        print(f"cannot read {message_file}: {exc.strerror}", file=err)
        return 2
    context, router = build_context(settings, dry_run=dry_run)
    configs = getattr(context.executor, "configs", None)
    if reveal_config and configs is not None:
        # The file's own config, with the runner's settings: asked for by whoever holds the file.
        configs.redact_renders = False
    # As if a server of that version had said welcome: dynamic image tags derive from it.
    context.runner.server_version = server_version
    dispatcher = build_dispatcher(context, router)
    async with running(context, dispatcher, start_executor=not dry_run):
        reply = await dispatcher.handle_frame(text)
    encoded = codec.encode(reply)
    if dry_run:
        for note in context.notes:
            out.write(f"# {note}\n")
        if context.rendered:
            out.write(yaml.safe_dump_all(context.rendered, sort_keys=False))
        print(encoded, file=err)
    else:
        print(encoded, file=out)
    return 0 if reply.ok else 1
