"""test_connection: run an OpenMetadata test-connection automation.

The automation patches its own result to the server; the runner only launches it and reports
the run's state. (Python name check_connection: pytest would collect ``test_connection``.)
"""

from __future__ import annotations

from handlers.launching import launch
from runtime.api import CheckConnection, Context, LaunchResult

AUTOMATION = "automation"


def handle(msg: CheckConnection, ctx: Context) -> LaunchResult:
    workflow = msg.workflow
    fqn = workflow.get("fullyQualifiedName") or workflow.get("name") or f"automation.{msg.run_id}"
    return launch(
        ctx,
        kind="automation",
        message_type=msg.TYPE,
        run_id=msg.run_id,
        pipeline_type=AUTOMATION,
        pipeline_fqn=str(fqn),
        config=workflow,
        image=msg.image,
    )
