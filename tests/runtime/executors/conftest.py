"""The ``h`` fixture: a Kubernetes executor harness of each kind (k8s_harness.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runtime.executors.k8s_harness import build


@pytest.fixture(params=["argo", "simpleK8s"])
def h(request: pytest.FixtureRequest) -> Any:
    harness = build(request.param)
    yield harness
    asyncio.run(harness.executor.stop())
