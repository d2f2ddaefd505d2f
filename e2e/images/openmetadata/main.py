"""`python main.py`: the pipelines entrypoint of the OpenMetadata-like test image.

OpenMetadata's ingestion image runs this command with the workflow config in env `config`; its
version builds a Workflow, whose OpenMetadata client initialises the secrets manager from
`workflowConfig.openMetadataServerConfig` and then calls the server. This one does the same up to
that call, with OpenMetadata's own code (see secret_check.py), so the kind tier can prove that a
pod started by the runner resolves the source connection's `secret:` password in-cluster. It
prints a digest of the value and exits 0, or exits non-zero naming what did not resolve.
"""

from __future__ import annotations

import os
import sys

from secret_check import ConfigError, attribute_path, check, config_failure, load_config_text

PASSWORD = ("source", "serviceConnection", "root", "config", "authType", "password")


def main() -> int:
    try:
        data = load_config_text(os.environ.get("config"))
    except ConfigError as exc:
        return config_failure(exc)
    if run_id := os.environ.get("pipelineRunId"):  # as OpenMetadata's main.py does
        data["pipelineRunId"] = run_id

    # Imported here, not at the top: the unit tests load this file without openmetadata-ingestion.
    from metadata.generated.schema.metadataIngestion.workflow import (
        OpenMetadataWorkflowConfig,
    )
    from pydantic import ValidationError

    try:
        config = OpenMetadataWorkflowConfig.model_validate(data)
    except ValidationError as exc:
        return config_failure(exc)
    # As OpenMetadata's BaseWorkflow does before its client builds the secrets manager.
    from metadata.utils.logger import set_loggers_level

    set_loggers_level(config.workflowConfig.loggerLevel.value)
    server = config.workflowConfig.openMetadataServerConfig
    return check(
        server.secretsManagerProvider,
        server.secretsManagerLoader,
        attribute_path(config, *PASSWORD),
    )


if __name__ == "__main__":
    sys.exit(main())
