"""Settings rules that need no server: the `--service-endpoint` pairs (validated at start-up, as the variables
functions get)."""

from __future__ import annotations

import pytest

from nimbus.config import Settings, from_env


def test_service_endpoints_become_the_sdks_per_service_variables() -> None:
    settings = Settings(service_endpoints="s3=http://127.0.0.1:9000, secrets-manager=https://sm.internal/p ,"
                                          "dynamodb=http://[::1]:8000")  # fmt: skip
    settings.check()
    assert settings.service_endpoint_env == {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://sm.internal/p",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://[::1]:8000",
    }
    assert Settings().service_endpoint_env == {}
    env = from_env({"NIMBUS_SERVICE_ENDPOINTS": "s3=http://minio:9000"})
    assert env.service_endpoint_env == {"AWS_ENDPOINT_URL_S3": "http://minio:9000"}


def test_a_service_name_is_at_most_64_characters() -> None:
    assert Settings(service_endpoints="s" * 64 + "=http://h").service_endpoint_env
    with pytest.raises(ValueError, match="is not SERVICE=URL"):
        Settings(service_endpoints="s" * 65 + "=http://h").check()


@pytest.mark.parametrize(
    "pair",
    ["s3", "s3=", "=http://h:1", "s3=ftp://h", "s3=http://", "s3=http://h:123456", "s3 x=http://h", "s3=http://h p",
     "s3=http://h:1/a b", "_s3=http://h"],
)  # fmt: skip
def test_a_bad_pair_is_refused_with_its_text(pair: str) -> None:
    with pytest.raises(ValueError, match=f"service endpoint {pair!r} is not SERVICE=URL"):
        Settings(service_endpoints=pair).check()
