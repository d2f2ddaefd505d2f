"""Names that are never a backend: the tests' example of an unknown ``EXECUTOR_TYPE`` or
``SECRETS_MANAGER``.

A real name used as "unknown" breaks those tests the day someone adds that backend (a newcomer
adding a ``vault`` store met four of them). ``tests/runtime/test_backends.py`` checks that no
declared backend name starts with ``no-such-``.
"""

from __future__ import annotations

UNKNOWN_PREFIX = "no-such-"
NO_SUCH_EXECUTOR = f"{UNKNOWN_PREFIX}executor"
NO_SUCH_STORE = f"{UNKNOWN_PREFIX}store"
