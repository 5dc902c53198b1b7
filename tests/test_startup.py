"""`nimbus serve`'s start-up banner (`startup.py`): where the data lives, the endpoint, how to point the AWS tools at
it, and where health and metrics are."""

from __future__ import annotations

from pathlib import Path

from nimbus.config import from_env
from nimbus.startup import banner


def test_banner_says_where_the_data_is_and_how_to_point_the_aws_cli(tmp_path: Path) -> None:
    settings = from_env({}, data_dir=tmp_path)
    text = banner(settings, 9001, [])
    assert text.splitlines()[0].startswith("Nimbus is serving the Lambda API at http://127.0.0.1:9001 ")
    assert f"data: {tmp_path} " in text
    assert "health: http://127.0.0.1:9001/_nimbus/health" in text
    assert ("export AWS_ENDPOINT_URL=http://127.0.0.1:9001 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test "
            "AWS_SECRET_ACCESS_KEY=test") in text  # fmt: skip
    assert "metrics" not in text  # not enabled
    assert "SAM CLI" not in text  # `sam deploy` cannot drive Nimbus (docs/sam.md): `nimbus deploy` does


def test_banner_with_metrics_and_configured_keys_prints_no_secret(tmp_path: Path) -> None:
    settings = from_env({}, data_dir=tmp_path, host="0.0.0.0", access_key_id="AKIDOWN", secret_access_key="s3cr3t",
                        metrics_port=9100, metrics_token="tok3n")  # fmt: skip
    text = banner(settings, 9001, [], metrics_port=9100)
    assert "metrics: http://127.0.0.1:9100/metrics (Prometheus, bearer token required)" in text
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:9001 AWS_DEFAULT_REGION=us-east-1\n" in text
    assert "s3cr3t" not in text
    assert "tok3n" not in text


def test_banner_shows_a_first_command_for_deployed_examples(tmp_path: Path) -> None:
    text = banner(from_env({}, data_dir=tmp_path), 9001, ["hello", "orders"])
    assert "deployed: hello, orders" in text
    assert ".venv/bin/nimbus invoke hello --payload" in text
    assert ".venv/bin/aws lambda invoke --function-name hello" in text
