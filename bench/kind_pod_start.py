"""On kind with real pods: request -> pod Running, and the runner's share of it (target < 5%).

The measurement is the kind tier's own scenario (e2e/kind_tier/test_kind_runner.py): the runner
image installed with the chart, launching real pods for both executors. The runner's part is its
reply (sent once the Workflow / Job exists); the rest is Argo's controller or the Job
controller, the scheduler, the kubelet and the container start. This script runs that test with
more samples and records the figures; it needs the kind tier (`bash e2e/kind/build.sh`, root).

    uv run python -m bench.kind_pod_start
"""

from __future__ import annotations

import argparse

from bench._common import e2e_figures, write_result

TEST = "e2e/kind_tier/test_kind_runner.py::test_request_to_running_time_and_the_runners_share"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    samples = 5 if parser.parse_args().quick else 20
    data = e2e_figures(TEST, {"BENCH_KIND_SAMPLES": str(samples), "E2E_BACKEND": "kind"})
    if data is None:
        write_result("kind_pod_start", {"measured": False})
        return
    write_result("kind_pod_start", {"measured": True, "executors": data, "target_share": 0.05})


if __name__ == "__main__":
    main()
