"""Parent of one local run: forwards signals, writes the exit status where the runner finds it.

The runner starts ``python -m runtime.executors.local.supervisor RUN_DIR -- COMMAND...`` in its
own session. Because this small process records the exit code in ``RUN_DIR/exit.json``, a runner
that was restarted while the run went on still learns how the run ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: local_supervisor RUN_DIR -- COMMAND...", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    command = argv[2:]
    # Written first thing: a runner killed between spawning us and recording our pid finds it here.
    write_json_atomic(run_dir / "supervisor.json", {"pid": os.getpid()})
    with (run_dir / "output.log").open("ab") as log:
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            log.write(f"cannot start {command[0]!r}: {exc}\n".encode())
            write_json_atomic(
                run_dir / "exit.json",
                {"exitCode": 127, "endDate": int(time.time() * 1000), "error": str(exc)},
            )
            return 127

        def forward(signum: int, _frame: object) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        code = child.wait()
    write_json_atomic(run_dir / "exit.json", {"exitCode": code, "endDate": int(time.time() * 1000)})
    return code if 0 <= code < 256 else 128 + (-code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
