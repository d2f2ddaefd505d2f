"""Where the runner's RSS comes from: a fresh interpreter's RSS after each import step.

``python -m bench._rss_breakdown`` prints one JSON object {step: RSS MiB}. Run as a child of
bench.idle_rss so that nothing else is loaded; the environment must configure the runner.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def rss_mib() -> float:
    # /proc directly: importing psutil here would add to the figure being measured.
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    steps: dict[str, float] = {"interpreter": rss_mib()}
    import aiohttp  # noqa: F401

    steps["import aiohttp"] = rss_mib()
    import cattrs  # noqa: F401
    import prometheus_client  # noqa: F401

    steps["+ cattrs, prometheus_client"] = rss_mib()
    from runtime.composition import build_runner
    from runtime.settings import Settings

    steps["+ runtime.composition (handlers, runtime)"] = rss_mib()
    build_runner(Settings.from_env(require_server=True))
    loaded = "kubernetes" in sys.modules
    steps["+ build_runner()" + (" (loads the kubernetes client)" if loaded else "")] = rss_mib()
    if not loaded:
        import kubernetes  # noqa: F401

        steps["for reference: + import kubernetes (not loaded by this runner)"] = rss_mib()
    print(json.dumps(steps))


if __name__ == "__main__":
    main()
