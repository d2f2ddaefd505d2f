"""The route table: one line per message type. The runtime's Router checks it is complete."""

from __future__ import annotations

from handlers import (
    check_connection,
    delete_pipeline,
    deploy_pipeline,
    kill,
    logs,
    run_pipeline,
    status,
    toggle_pipeline,
)
from runtime.api import (
    CheckConnection,
    DeletePipeline,
    DeployPipeline,
    Handler,
    Kill,
    Logs,
    Request,
    RunPipeline,
    Status,
    TogglePipeline,
)

ROUTES: dict[type[Request], Handler] = {
    RunPipeline: run_pipeline.handle,
    CheckConnection: check_connection.handle,
    Kill: kill.handle,
    Status: status.handle,
    Logs: logs.handle,
    DeployPipeline: deploy_pipeline.handle,
    TogglePipeline: toggle_pipeline.handle,
    DeletePipeline: delete_pipeline.handle,
}
