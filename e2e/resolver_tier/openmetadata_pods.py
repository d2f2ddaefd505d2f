"""Runs the OpenMetadata-image entrypoints for several pods in one interpreter of the OM venv.

Started by the resolver tier (e2e/resolver_tier/resolver_kit.py) with the OpenMetadata venv's
python, never imported by the project: standard library only here, OpenMetadata's modules are
imported by the entrypoint scripts (e2e/images/openmetadata/main.py, run_automation.py, the ones the
kind tier's image runs). Importing OpenMetadata's models takes 6-15 s, so one process serves every
pod of a
store, and each pod gets what a fresh process would:

* ``os.environ`` replaced wholesale by that pod's environment (nothing of the previous pod's or
  of the test's is left);
* OpenMetadata's singletons (``SecretsManagerFactory``) cleared and its loggers' levels restored;
* the script run as ``__main__`` (``runpy``), its exit code, stdout and stderr (where
  OpenMetadata's own log handler writes) captured for that pod alone.

Input on stdin: ``[{"script": path, "env": {...}}, ...]``; output: one JSON list of
``{"code", "stdout", "stderr"}`` written to the file named by the only argument (not to stdout,
where a library writing to the file descriptor directly would corrupt it). The scripts print
digests, never secret values.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import runpy
import sys
import traceback
from typing import Any


def _logger_levels() -> dict[str, int]:
    manager = logging.Logger.manager
    levels = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    levels[""] = logging.getLogger().level
    return levels


def _reset(levels: dict[str, int], stream: io.StringIO) -> None:
    singleton = sys.modules.get("metadata.utils.singleton")
    if singleton is not None:
        singleton.Singleton.clear_all()
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    logging.getLogger().setLevel(levels.get("", logging.WARNING))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def run_pod(script: str, env: dict[str, str], levels: dict[str, int]) -> dict[str, Any]:
    os.environ.clear()
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    _reset(levels, err)
    code: int
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> int:
    jobs = json.load(sys.stdin)
    levels = _logger_levels()
    results = []
    for job in jobs:
        script = job["script"]
        folder = os.path.dirname(os.path.abspath(script))
        if folder not in sys.path:
            sys.path.insert(0, folder)  # as `python <script>` does
        results.append(run_pod(script, job["env"], levels))
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
