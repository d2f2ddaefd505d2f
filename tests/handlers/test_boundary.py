"""The operator's boundary, through the real dispatcher and handlers on both Kubernetes
executors: an image outside the policy or a secret reference outside the scope is refused
(``forbidden``) before anything is created or any store is asked, the run is reported failed
(``run_update`` with ImageNotAllowed / SecretNotAllowed), the refusal is one JSON audit line
and a count on ``hybrid_runner_refused_total{rule}``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from runtime.composition import build_dispatcher
from runtime.observability.logsetup import JsonFormatter, TextFormatter
from runtime.serving.router import Router
from runtime.wire import codec
from tests.conftest import sample
from tests.handlers.support import KINDS, Kube, kube

ALLOWED_ENV = {
    "INGESTION_ALLOWED_IMAGES": "mirror.corp/openmetadata/*",
    "SECRETS_ALLOWED_REFERENCES": "mysql-*,collate-*",
}


def refused_count(k: Kube, rule: str) -> float:
    value: float = k.ctx.metrics.refused.labels(rule)._value.get()
    return value


async def answer(k: Kube, frame: dict[str, Any]) -> dict[str, Any]:
    from handlers.routes import ROUTES

    dispatcher = build_dispatcher(k.ctx, Router(ROUTES))
    try:
        reply = await dispatcher.handle_frame(json.dumps(frame))
    finally:
        dispatcher.close()
    encoded: dict[str, Any] = json.loads(codec.encode(reply))
    return encoded


def nothing_created(k: Kube) -> None:
    assert k.workload_creates() == []
    assert k.schedule_creates() == []
    assert k.secrets_created == []


@pytest.fixture(params=KINDS)
def k(request: pytest.FixtureRequest) -> Kube:
    return kube(request.param, env=ALLOWED_ENV)


async def test_an_image_outside_the_policy_creates_nothing_and_fails_the_run(
    k: Kube, caplog: pytest.LogCaptureFixture
) -> None:
    frame = sample("run_pipeline.json")
    frame["image"] = "docker.io/attacker/miner:latest"
    with caplog.at_level(logging.INFO, logger="runtime.observability.audit"):
        reply = await answer(k, frame)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "forbidden"
    assert "docker.io/attacker/miner:latest" in reply["error"]["message"]
    assert "INGESTION_ALLOWED_IMAGES" in reply["error"]["message"]
    nothing_created(k)
    assert k.store.checked == [], "refused before any secret was looked up"
    record = k.executor.table.get(frame["runId"])
    assert record is not None
    assert (record.state, record.reason) == ("failed", "ImageNotAllowed")
    assert record.message == reply["error"]["message"]
    assert refused_count(k, "image") == 1
    (line,) = [r for r in caplog.records if r.name == "runtime.observability.audit"]
    for formatter in (JsonFormatter(), TextFormatter()):  # JSON whatever LOG_FORMAT says
        audit = json.loads(formatter.format(line))
        assert audit["event"] == "refused" and audit["rule"] == "image"
        assert audit["reason"] == "ImageNotAllowed"
        assert (audit["request_id"], audit["run_id"]) == (frame["id"], frame["runId"])
        assert audit["asked"] == ["docker.io/attacker/miner:latest"]


async def test_an_allowed_image_runs(k: Kube) -> None:
    frame = sample("run_pipeline.json")
    frame["image"] = "mirror.corp/openmetadata/ingestion:1.13.3"
    reply = await answer(k, frame)
    assert reply["ok"] is True, reply
    (body,) = k.workload_creates()
    assert frame["image"] in json.dumps(body)


async def test_a_reference_outside_the_scope_asks_no_store_and_fails_the_run(k: Kube) -> None:
    frame = sample("test_connection.json")
    password = frame["workflow"]["request"]["connection"]["config"]["authType"]
    password["password"] = "secret:prod-root-password"
    reply = await answer(k, frame)
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
    assert "secret:prod-root-password" in reply["error"]["message"]
    assert "SECRETS_ALLOWED_REFERENCES" in reply["error"]["message"]
    assert k.store.checked == [], "no probing: the store was not asked"
    nothing_created(k)
    record = k.executor.table.get(frame["runId"])
    assert record is not None and (record.state, record.reason) == ("failed", "SecretNotAllowed")
    assert refused_count(k, "secret_reference") == 1


async def test_a_schedule_is_held_to_the_same_boundary(k: Kube) -> None:
    frame = sample("deploy_pipeline.json")
    frame["image"] = "ghcr.io/someone/ingestion:1"
    reply = await answer(k, frame)
    assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
    nothing_created(k)
    assert refused_count(k, "image") == 1


async def test_a_dry_run_shows_the_decision(k: Kube) -> None:
    dry = kube(k.kind, dry_run=True, env=ALLOWED_ENV)
    reply = await answer(dry, sample("run_pipeline.json"))
    assert reply["ok"] is True
    (note,) = dry.ctx.notes
    assert note.startswith("image registry.example.com/ingestion:")
    assert "allowed: the configured repository registry.example.com/ingestion" in note
