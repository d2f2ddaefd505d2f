"""``python -m runtime`` is ``hybrid-runner run``."""

import sys

from runtime.cli import main

sys.exit(main(["run", *sys.argv[1:]]))
