"""`python run_automation.py`: the automations (test connection) entrypoint of the test image.

OpenMetadata's ingestion image runs this command with the automations Workflow entity in env
`config`; its version parses it, builds its OpenMetadata client (and so the secrets manager) from
`openMetadataServerConnection` and then calls the server. This one does the same up to that
call, with OpenMetadata's own code (see secret_check.py), and reads
`request.connection.config.authType.password`: a digest and exit 0, or non-zero naming what did
not resolve.
"""

from __future__ import annotations

import os
import sys

from secret_check import ConfigError, attribute_path, check, config_failure, load_config_text

PASSWORD = ("request", "connection", "config", "authType", "password")


def main() -> int:
    try:
        data = load_config_text(os.environ.get("config"))
    except ConfigError as exc:
        return config_failure(exc)

    # Imported here, not at the top: the unit tests load this file without openmetadata-ingestion.
    from metadata.generated.schema.entity.automations.workflow import (
        Workflow,
    )
    from pydantic import ValidationError

    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        return config_failure(exc)
    server = workflow.openMetadataServerConnection
    return check(
        attribute_path(server, "secretsManagerProvider"),
        attribute_path(server, "secretsManagerLoader"),
        attribute_path(workflow, *PASSWORD),
    )


if __name__ == "__main__":
    sys.exit(main())
