"""SecretsService: preflight semantics independent of any backend."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService, find_references
from runtime.wire.errors import (
    InvalidSecretReference,
    RunnerError,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)


class FakeStore:
    """Answers by secret id prefix: ok-*, missing-*, denied-*, down-*, boom-*, slow-*, bad/..."""

    provider = "fake-provider"
    backend = "fake"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def validate_id(self, secret_id: str) -> str | None:
        return f"{secret_id!r} has a '/'; write secret:<name>" if "/" in secret_id else None

    def check(self, secret_id: str) -> None:
        with self._lock:
            self.calls[secret_id] += 1
        if self.delay or secret_id.startswith("slow-"):
            time.sleep(self.delay or 2.0)
        if secret_id.startswith("missing-"):
            raise SecretNotFound(f"no secret {secret_id}")
        if secret_id.startswith("denied-"):
            raise SecretForbidden(f"may not read {secret_id}")
        if secret_id.startswith("down-"):
            raise SecretStoreUnavailable("store down")
        if secret_id.startswith("boom-"):
            raise RuntimeError("unexpected library failure")

    def pod_env(self) -> dict[str, str]:
        return {"FAKE_STORE": "1"}


def refs(*ids: str) -> dict[str, Any]:
    return {"config": {f"field{i}": f"secret:{sid}" for i, sid in enumerate(ids)}}


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def service(store: FakeStore, metrics: Metrics) -> Any:
    svc = SecretsService(store, metrics, timeout=5.0)
    yield svc
    svc.close()


def counter(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "hybrid_runner_secret_preflight_total", {"backend": "fake", "result": result}
    )
    return value or 0.0


def test_find_references_walks_dicts_and_lists() -> None:
    document = {"a": ["x", {"b": "secret:one"}, ["secret:two"]], "c": "secret:", "d": 5}
    assert list(find_references(document)) == [
        ("$.a[1].b", "one"),
        ("$.a[2][0]", "two"),
        ("$.c", ""),
    ]


def test_all_present_returns_count_and_counts_ok(
    service: Any, store: FakeStore, metrics: Metrics
) -> None:
    assert service.preflight(refs("ok-1", "ok-2", "ok-1")) == 3
    # The same id referenced twice is checked once.
    assert store.calls == Counter({"ok-1": 1, "ok-2": 1})
    assert counter(metrics, "ok") == 2


def test_no_references_makes_no_call(service: Any, store: FakeStore) -> None:
    assert service.preflight({"config": {"password": "plain"}}) == 0
    assert not store.calls


def test_disabled_preflight_makes_no_call(store: FakeStore, metrics: Metrics) -> None:
    service = SecretsService(store, metrics, enabled=False)
    assert service.preflight(refs("missing-1", "bad/id")) == 0
    assert not store.calls


@pytest.mark.parametrize(
    ("ids", "expected", "retryable"),
    [
        (("bad/id", "missing-1", "denied-1", "down-1"), InvalidSecretReference, False),
        (("down-1", "denied-1", "missing-1"), SecretNotFound, False),
        (("down-1", "denied-1", "ok-1"), SecretForbidden, False),
        (("down-1", "down-2", "ok-1"), SecretStoreUnavailable, True),
        (("boom-1",), SecretStoreUnavailable, True),
    ],
)
def test_error_code_priority(
    service: Any, ids: tuple[str, ...], expected: type[RunnerError], retryable: bool
) -> None:
    with pytest.raises(RunnerError) as caught:
        service.preflight(refs(*ids))
    assert type(caught.value) is expected
    assert caught.value.retryable is retryable


def test_message_names_every_failing_reference_and_backend(service: Any) -> None:
    document = refs("ok-1", "missing-a", "denied-b", "bad/c", "down-d")
    with pytest.raises(InvalidSecretReference) as caught:
        service.preflight(document)
    message = caught.value.message
    assert "(fake store)" in message
    for path, sid in [
        ("$.config.field1", "missing-a"),
        ("$.config.field2", "denied-b"),
        ("$.config.field3", "bad/c"),
        ("$.config.field4", "down-d"),
    ]:
        assert f"secret:{sid} at {path}" in message
    assert "secret:ok-1" not in message
    assert "write secret:<name>" in message  # validate_id's text reaches the user


def test_unexpected_exception_becomes_unavailable_with_type(service: Any) -> None:
    with pytest.raises(SecretStoreUnavailable, match="RuntimeError: unexpected library failure"):
        service.preflight(refs("boom-1"))


def test_success_is_cached(service: Any, store: FakeStore, metrics: Metrics) -> None:
    service.preflight(refs("ok-1", "ok-2"))
    service.preflight(refs("ok-2", "ok-1"))
    assert store.calls == Counter({"ok-1": 1, "ok-2": 1})


def test_cache_expires(store: FakeStore, metrics: Metrics) -> None:
    service = SecretsService(store, metrics, cache_ttl=0.05)
    service.preflight(refs("ok-1"))
    time.sleep(0.1)
    service.preflight(refs("ok-1"))
    assert store.calls["ok-1"] == 2


def test_failures_are_not_cached(service: Any, store: FakeStore, metrics: Metrics) -> None:
    for _ in range(2):
        with pytest.raises(SecretNotFound):
            service.preflight(refs("missing-1"))
    assert store.calls["missing-1"] == 2
    assert counter(metrics, "secret_not_found") == 2


def test_timeout_reports_unavailable_and_names_the_reference(
    store: FakeStore, metrics: Metrics
) -> None:
    service = SecretsService(store, metrics, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable) as caught:
        service.preflight(refs("ok-1", "slow-1"))
    assert time.monotonic() - start < 1.5
    assert "secret:slow-1 at $.config.field1: no answer within 0.2s" in caught.value.message
    assert caught.value.retryable
    assert counter(metrics, "secret_store_unavailable") == 1
    service.close()


def test_many_references_are_checked_concurrently(metrics: Metrics) -> None:
    delay = 0.2
    store = FakeStore(delay=delay)
    service = SecretsService(store, metrics, max_workers=16, timeout=10)
    start = time.monotonic()
    assert service.preflight(refs(*[f"ok-{i}" for i in range(50)])) == 50
    elapsed = time.monotonic() - start
    assert elapsed < 50 * delay / 4, elapsed
    service.close()


def test_pod_env_and_provider_come_from_the_store(service: Any) -> None:
    assert service.pod_env() == {"FAKE_STORE": "1"}
    assert service.provider == "fake-provider"


def test_configure_workflow_config_sets_provider_and_env_loader(service: Any) -> None:
    config = {
        "source": {"serviceConnection": {"config": {"password": "secret:db"}}},
        "workflowConfig": {
            "openMetadataServerConfig": {"hostPort": "https://om", "secretsManagerLoader": "noop"}
        },
    }
    snapshot = repr(config)
    out = service.configure_workflow_config(config)
    server = out["workflowConfig"]["openMetadataServerConfig"]
    assert server["secretsManagerProvider"] == "fake-provider"
    assert server["secretsManagerLoader"] == "env"
    assert server["hostPort"] == "https://om"
    assert out["source"] == config["source"]
    assert repr(config) == snapshot  # the input is untouched


def test_configure_workflow_config_creates_missing_sections(service: Any) -> None:
    out = service.configure_workflow_config({})
    assert out["workflowConfig"]["openMetadataServerConfig"] == {
        "secretsManagerProvider": "fake-provider",
        "secretsManagerLoader": "env",
    }


def test_configure_automation_sets_both_connections(service: Any) -> None:
    workflow: dict[str, Any] = {
        "name": "test-connection-1",
        "openMetadataServerConnection": {"hostPort": "https://om"},
        "request": {
            "connection": {"config": {"password": "secret:db"}},
            "openMetadataServerConnection": {"hostPort": "https://om"},
        },
    }
    snapshot = repr(workflow)
    out = service.configure_automation(workflow)
    servers = (out["openMetadataServerConnection"], out["request"]["openMetadataServerConnection"])
    for server in servers:
        assert server["secretsManagerProvider"] == "fake-provider"
        assert server["secretsManagerLoader"] == "env"
    assert out["request"]["connection"] == workflow["request"]["connection"]
    assert repr(workflow) == snapshot
