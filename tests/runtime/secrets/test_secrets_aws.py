"""AwsSecretStore against moto's server on 127.0.0.1, through real boto3."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from runtime.observability.metrics import Metrics
from runtime.secrets import SecretsService
from runtime.secrets.aws import AwsSecretStore
from runtime.wire.errors import (
    InvalidSecretReference,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
)
from tests.runtime.secrets.secrets_testlib import AWS_REGION, Aws, nested_document, timed


def test_present_secret_by_path_name(aws: Aws) -> None:
    aws.create("/my/database/password")
    aws.store().check("/my/database/password")


def test_present_secret_by_arn(aws: Aws) -> None:
    aws.create("by-arn")
    arn = aws.admin.describe_secret(SecretId="by-arn")["ARN"]
    store = aws.store()
    assert store.validate_id(arn) is None
    store.check(arn)


def test_endpoint_from_environment(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint_url argument: boto3 itself honours AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    aws.create("from-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.url)
    AwsSecretStore("aws", AWS_REGION).check("from-env")


def test_missing_secret(aws: Aws) -> None:
    with pytest.raises(SecretNotFound) as caught:
        aws.store().check("/not/there")
    assert caught.value.message == f"no AWS secret '/not/there' in region {AWS_REGION}"


def test_secret_scheduled_for_deletion_is_not_found(aws: Aws) -> None:
    aws.create("going")
    aws.admin.delete_secret(SecretId="going", RecoveryWindowInDays=7)
    with pytest.raises(SecretNotFound, match=r"scheduled for deletion.*restore-secret"):
        aws.store().check("going")


def _iam_user(aws: Aws, name: str, actions: list[str]) -> dict[str, str]:
    iam = aws.client("iam")
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(UserName=name, PolicyName="runner", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def test_forbidden_with_moto_iam_enforcement(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.create("/team/db")
    limited = _iam_user(aws, "lister", ["secretsmanager:ListSecrets"])
    allowed = _iam_user(aws, "describer", ["secretsmanager:DescribeSecret"])
    aws.enforce_iam(True)

    # The store finds credentials through boto3's default chain (here: the environment).
    for name, value in limited.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SecretForbidden) as caught:
        aws.store().check("/team/db")
    assert "secretsmanager:DescribeSecret" in caught.value.message
    assert "user/lister" in caught.value.message  # AWS's own text, unwrapped from its XML

    for name, value in allowed.items():
        monkeypatch.setenv(name, value)
    aws.store().check("/team/db")


def test_unknown_access_key_is_forbidden(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.create("db")
    aws.enforce_iam(True)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(SecretForbidden):
        aws.store().check("db")


def test_no_credentials_is_forbidden(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SecretForbidden, match="no AWS credentials"):
        aws.store().check("db")


def test_store_down(aws: Aws, closed_port: int) -> None:
    store = aws.store(endpoint_url=f"http://127.0.0.1:{closed_port}")
    start = time.monotonic()
    with pytest.raises(SecretStoreUnavailable) as caught:
        store.check("db")
    assert time.monotonic() - start < 5
    assert f"127.0.0.1:{closed_port}" in caught.value.message
    assert caught.value.retryable


def test_no_region_is_reported(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    store = AwsSecretStore("aws", None, endpoint_url=aws.url)
    assert store.pod_env() == {}
    with pytest.raises(SecretStoreUnavailable, match="set AWS_DEFAULT_REGION") as caught:
        store.check("db")
    assert not caught.value.retryable


def test_timeout_through_preflight(aws: Aws, delay_proxy: Any, metrics: Metrics) -> None:
    aws.create("slow")
    proxy = delay_proxy(aws.url, 3.0)
    service = SecretsService(aws.store(endpoint_url=proxy.url), metrics, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(
        SecretStoreUnavailable, match=r"secret:slow at \$\.x: no answer within 0\.3s"
    ):
        service.preflight({"x": "secret:slow"})
    assert time.monotonic() - start < 1.5
    service.close()


def test_store_read_timeout_is_unavailable(aws: Aws, delay_proxy: Any) -> None:
    aws.create("slow")
    proxy = delay_proxy(aws.url, 3.0)
    store = aws.store(endpoint_url=proxy.url, read_timeout=0.3)
    with pytest.raises(SecretStoreUnavailable, match="timeout"):
        store.check("slow")


def test_nested_reference_in_a_list(aws: Aws, metrics: Metrics) -> None:
    aws.create("/db/present")
    service = SecretsService(aws.store(), metrics)
    assert service.preflight(nested_document("/db/present")) == 1
    with pytest.raises(SecretNotFound) as caught:
        service.preflight(nested_document("/db/present", "/db/absent"))
    path = "$.source.serviceConnection.config.connectionArguments[2].value"
    assert f"secret:/db/absent at {path}" in caught.value.message
    assert "(aws store)" in caught.value.message


def test_many_references_concurrently(aws: Aws, delay_proxy: Any, metrics: Metrics) -> None:
    names = [f"/bulk/secret-{i}" for i in range(50)]
    for name in names:
        aws.create(name)
    delay = 0.3
    proxy = delay_proxy(aws.url, delay)
    service = SecretsService(aws.store(endpoint_url=proxy.url), metrics, max_workers=16)
    count, elapsed = timed(service.preflight, nested_document(*names))
    assert count == 50
    assert elapsed < 50 * delay / 3, elapsed
    service.close()


@pytest.mark.parametrize(
    "bad", ["", "has space", "semi;colon", "quote'", "x" * 513, "arn:aws:s3:::bucket/key"]
)
def test_invalid_ids(bad: str) -> None:
    problem = AwsSecretStore("aws", AWS_REGION).validate_id(bad)
    assert problem is not None
    assert "secret:/my/database/password" in problem


@pytest.mark.parametrize(
    "good",
    [
        "/my/database/password",
        "prod_db+creds=1@team.x-y",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/my/db-AbCdEf",
    ],
)
def test_valid_ids(good: str) -> None:
    assert AwsSecretStore("aws", AWS_REGION).validate_id(good) is None


def test_invalid_id_through_preflight(aws: Aws, metrics: Metrics) -> None:
    service = SecretsService(aws.store(), metrics)
    with pytest.raises(InvalidSecretReference, match="secret:bad id at"):
        service.preflight({"a": ["secret:bad id"]})


def test_pod_env_and_provider(aws_env: None) -> None:
    assert AwsSecretStore("managed-aws", "us-west-2").pod_env() == {
        "AWS_DEFAULT_REGION": "us-west-2"
    }
    # Unset: the region boto3 resolves from the environment (AWS_DEFAULT_REGION here).
    assert AwsSecretStore("aws").pod_env() == {"AWS_DEFAULT_REGION": AWS_REGION}
    assert AwsSecretStore("aws").provider == "aws"
    with pytest.raises(ValueError, match="provider"):
        AwsSecretStore("aws-ssm")
