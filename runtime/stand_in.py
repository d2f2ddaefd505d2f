"""A stand-in for OpenMetadata's ingestion entry points, for the demo and the tests.

It reads the same environment contract as the ingestion pod (``config``, ``pipelineType``,
``pipelineRunId``, ``ingestionPipelineFQN``) and behaves as the config's optional ``standIn``
object says, e.g. ``{"seconds": 2, "exitCode": 0, "lines": 3, "ignoreTerm": false}``.
It is not ingestion: it connects to nothing and reads no secret.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

CONTRACT = ("config", "pipelineType", "pipelineRunId", "ingestionPipelineFQN")


def main() -> int:
    missing = [name for name in CONTRACT if not os.environ.get(name)]
    if missing:
        print(f"stand-in: missing pod contract variables: {', '.join(missing)}", flush=True)
        return 2
    try:
        config = json.loads(os.environ["config"])
    except json.JSONDecodeError as exc:
        print(f"stand-in: config is not JSON: {exc}", flush=True)
        return 2
    behaviour = config.get("standIn", {}) if isinstance(config, dict) else {}
    seconds = float(behaviour.get("seconds", 0.2))
    exit_code = int(behaviour.get("exitCode", 0))
    lines = int(behaviour.get("lines", 2))

    def on_term(_signum: int, _frame: object) -> None:
        print("stand-in: received SIGTERM, stopping", flush=True)
        sys.exit(143)

    # "ignoreTerm" imitates a process that does not stop on SIGTERM (kill escalation tests).
    signal.signal(signal.SIGTERM, signal.SIG_IGN if behaviour.get("ignoreTerm") else on_term)
    print(
        f"stand-in: {os.environ['pipelineType']} run {os.environ['pipelineRunId']} "
        f"of {os.environ['ingestionPipelineFQN']}",
        flush=True,
    )
    for index in range(lines):
        print(f"stand-in: step {index + 1}/{lines}", flush=True)
        time.sleep(seconds / max(lines, 1))
    print(f"stand-in: exiting with {exit_code}", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
