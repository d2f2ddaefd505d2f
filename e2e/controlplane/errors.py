"""The one error the local control plane raises, shared by every module that starts or waits."""

from __future__ import annotations


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (the message names the component and its log)."""
