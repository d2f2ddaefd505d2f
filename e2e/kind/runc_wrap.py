#!/usr/bin/env python3
"""OCI runtime wrapper for the kind tier's private Docker engine (see e2e/kind/engine.py).

Docker gives a ``--privileged`` container every capability it knows. On virtual machines whose
capability bounding set lacks some of them (the project's CI machines miss CAP_SYS_RESOURCE),
runc then fails with "unable to apply caps: operation not permitted", and kind runs its node
containers, and its ``docker exec``s into them, privileged. This wrapper removes from the OCI
bundle's ``config.json`` (``runc create/run --bundle``) and from the process JSON of
``runc exec --process`` every capability the bounding set does not hold, then execs the real
runc. On a machine whose bounding set is complete it changes nothing.

engine.py copies this file next to the engine's state with ``REAL_RUNC`` set to the real runc
path; standard library only, since the engine calls it for every container operation.
"""

import json
import os
import sys

REAL_RUNC = "/usr/sbin/runc"

# Capability numbers 0..40, in the kernel's order (include/uapi/linux/capability.h).
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def bounding_set() -> set[str]:
    with open("/proc/self/status") as status:
        line = next(ln for ln in status if ln.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    return {"CAP_" + name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}


def strip(path: str, *, bundle: bool, allowed: set[str]) -> None:
    """Drops the capabilities outside ``allowed`` from one OCI JSON file, in place."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return  # not ours to judge: runc reports a bad bundle itself
    process = (doc.get("process") or {}) if bundle else doc
    caps = process.get("capabilities") or {}
    changed = False
    for kind, names in caps.items():
        if isinstance(names, list):
            kept = [name for name in names if name in allowed]
            changed |= kept != names
            caps[kind] = kept
    if changed:
        with open(path, "w") as f:
            json.dump(doc, f)


def main(args: list[str]) -> None:
    allowed = bounding_set()
    if len(allowed) < len(CAPABILITIES):
        for i, arg in enumerate(args):
            value = args[i + 1] if i + 1 < len(args) else ""
            if arg in ("--bundle", "-b"):
                strip(os.path.join(value, "config.json"), bundle=True, allowed=allowed)
            elif arg.startswith("--bundle="):
                strip(
                    os.path.join(arg.split("=", 1)[1], "config.json"), bundle=True, allowed=allowed
                )
            elif arg in ("--process", "-p"):
                strip(value, bundle=False, allowed=allowed)
            elif arg.startswith("--process="):
                strip(arg.split("=", 1)[1], bundle=False, allowed=allowed)
    os.execv(REAL_RUNC, [REAL_RUNC, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
