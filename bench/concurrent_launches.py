"""100 concurrent run_pipeline requests against the local control plane (target: all created,
none duplicated, < 5 s).

The measurement is the e2e scenario itself (e2e/test_runner.py): a real runner with the chart's
Role, a real kube-apiserver and Argo's workflow-controller started on 127.0.0.1. This script
runs that one test and records its figure; it needs the control plane built
(`bash e2e/controlplane/build.sh`).

    uv run python -m bench.concurrent_launches
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._common import ROOT, write_result

TEST = "e2e/test_runner.py::test_100_concurrent_run_pipeline_requests"


def main() -> None:
    argparse.ArgumentParser(description=__doc__).add_argument("--quick", action="store_true")
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        env = {**os.environ, "BENCH_RESULT_FILE": str(result_file), "E2E_REQUIRE": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if proc.returncode != 0 or not result_file.exists():
            write_result("concurrent_launches", {"measured": False, "returncode": proc.returncode})
            return
        data = json.loads(result_file.read_text())
    write_result("concurrent_launches", {"measured": True, **data, "target_s": 5.0})


if __name__ == "__main__":
    main()
