"""100 concurrent run_pipeline requests against the local control plane (target: all created,
none duplicated, < 5 s).

The measurement is the e2e scenario itself (e2e/controlplane_tier/test_runner.py): a real runner
with the chart's Role, a real kube-apiserver and Argo's workflow-controller started on 127.0.0.1.
This script runs that one test and records its figure; it needs the control plane built (`bash
e2e/controlplane/build.sh`).

    uv run python -m bench.concurrent_launches
"""

from __future__ import annotations

import argparse

from bench._common import e2e_figures, write_result

TEST = "e2e/controlplane_tier/test_runner.py::test_100_concurrent_run_pipeline_requests"


def main() -> None:
    argparse.ArgumentParser(description=__doc__).add_argument("--quick", action="store_true")
    data = e2e_figures(TEST, {})
    if data is None:
        write_result("concurrent_launches", {"measured": False})
        return
    write_result("concurrent_launches", {"measured": True, **data, "target_s": 5.0})


if __name__ == "__main__":
    main()
