"""Process-wide settings for the whole test session (tests/ and e2e/ share one process).

gRPC (imported by the GCP secret-store tests) registers fork handlers that restart its poller
threads in a forked child; the e2e control plane starts its components with a ``preexec_fn``,
so a real fork() runs them, and the restarted poller can hit the descriptors the child is
closing and abort it before exec (kwok "exited -6 during startup", 16 of 300 forks in a
reproduction). Nothing here needs gRPC across a fork, so its fork support is switched off
before gRPC is imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
