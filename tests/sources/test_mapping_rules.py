"""Lambda's rules for the fields of Create/UpdateEventSourceMapping on an SQS queue, and the stored form."""

from __future__ import annotations

from typing import Any

import pytest

from nimbus.errors import InvalidParameterValue, NimbusError, ValidationError
from nimbus.sources.mapping_rules import MappingRecord, apply, parse_source_arn

ARN = "arn:aws:sqs:us-east-1:000000000000:orders"
BASE = MappingRecord("11111111-2222-4333-8444-555555555555", "fn", None, ARN)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ({"BatchSize": 0}, ValidationError, "at 'batchSize' failed to satisfy constraint: Member must have value "
                                            "greater than or equal to 1"),
        ({"BatchSize": 10_001, "MaximumBatchingWindowInSeconds": 1}, ValidationError, "less than or equal to 10000"),
        ({"BatchSize": 11}, InvalidParameterValue, "Maximum batch window in seconds must be greater than 0 if "
                                                   "maximum batch size is greater than 10"),
        ({"MaximumBatchingWindowInSeconds": 301}, ValidationError, "maximumBatchingWindowInSeconds"),
        ({"ScalingConfig": {"MaximumConcurrency": 1}}, ValidationError, "scalingConfig.maximumConcurrency"),
        ({"ScalingConfig": {"MaximumConcurrency": 1001}}, ValidationError, "less than or equal to 1000"),
        ({"FunctionResponseTypes": ["Nope"]}, ValidationError, "enum value set: [ReportBatchItemFailures]"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{"}]}}, InvalidParameterValue, "Invalid filter pattern"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{}"}] * 6}}, InvalidParameterValue, "limit of 5"),
        ({"StartingPosition": "LATEST"}, InvalidParameterValue, "StartingPosition"),
        ({"Enabled": "yes"}, InvalidParameterValue, "Enabled"),
    ],
)  # fmt: skip
def test_refusals(body: dict[str, Any], error: type[NimbusError], words: str) -> None:
    with pytest.raises(error) as info:
        apply(BASE, body, creating=True)
    assert words in info.value.message


def test_limits_are_accepted_and_the_record_round_trips() -> None:
    rec = apply(BASE, {"BatchSize": 10_000, "MaximumBatchingWindowInSeconds": 300, "Enabled": False,
                       "FunctionResponseTypes": ["ReportBatchItemFailures"],
                       "ScalingConfig": {"MaximumConcurrency": 2},
                       "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": ["b"]}}'}] * 5}},
                creating=True)  # fmt: skip
    assert (rec.batch_size, rec.window_s, rec.enabled, rec.report_failures, rec.max_concurrency) == (
        10_000, 300, False, True, 2,
    )  # fmt: skip
    assert len(rec.patterns) == 5
    assert MappingRecord.from_json(rec.to_json()) == rec
    assert apply(rec, {"ScalingConfig": {}, "FunctionResponseTypes": []}, creating=False).max_concurrency is None
    assert rec.queue_name == "orders"
    assert rec.concurrency == 2


def test_source_arns() -> None:
    assert parse_source_arn(ARN) == "orders"
    with pytest.raises(InvalidParameterValue):
        parse_source_arn("arn:aws:kinesis:us-east-1:000000000000:stream/s")
    with pytest.raises(InvalidParameterValue):
        parse_source_arn(None)
    with pytest.raises(ValidationError):
        parse_source_arn("orders")
