"""The route table: one line per message type. The runtime's Router checks it is complete."""

from __future__ import annotations

from handlers import check_connection, kill, run_pipeline, status
from runtime.messages import CheckConnection, Kill, Request, RunPipeline, Status
from runtime.router import Handler

ROUTES: dict[type[Request], Handler] = {
    RunPipeline: run_pipeline.handle,
    CheckConnection: check_connection.handle,
    Kill: kill.handle,
    Status: status.handle,
}
