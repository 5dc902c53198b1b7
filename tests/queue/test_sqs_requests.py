"""SQS's range checks of SendMessage and ReceiveMessage parameters, pure: each bound taken, one past it refused
with SQS's InvalidParameterValue in its own words (which differ by parameter: "must", "Must", ">= and <="), and a
parameter not given is the queue's default."""

from __future__ import annotations

import pytest

from nimbus.errors import SqsInvalidParameterValue
from nimbus.queue.sqs_requests import MAX_DELAY_S, MAX_VISIBILITY_S, MAX_WAIT_S, new_message, receive_parameters

QUEUE = {"VisibilityTimeout": "31", "ReceiveMessageWaitTimeSeconds": "2", "DelaySeconds": "3"}


def delay_of(delay_s: int | None) -> float:
    new, _ = new_message(QUEUE, "body", {}, delay_s, {}, None, None)
    return new.delay_s


def test_delay_seconds_is_taken_from_0_to_900_and_defaults_to_the_queues() -> None:
    assert [delay_of(d) for d in (0, MAX_DELAY_S, None)] == [0.0, 900.0, 3.0]
    for bad in (-1, MAX_DELAY_S + 1):
        with pytest.raises(SqsInvalidParameterValue) as raised:
            delay_of(bad)
        assert str(raised.value) == (
            f"Value {bad} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided."
        )


def test_receive_parameters_are_taken_at_their_bounds_and_default_to_the_queues() -> None:
    assert receive_parameters(QUEUE, 1, 0, 0) == (0, 0)
    assert receive_parameters(QUEUE, 10, MAX_VISIBILITY_S, MAX_WAIT_S) == (43_200, 20)
    assert receive_parameters(QUEUE, 10, None, None) == (31, 2)


@pytest.mark.parametrize(
    ("count", "visibility", "wait", "message"),
    [
        (0, None, None, "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
                        "if provided."),
        (11, None, None, "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
                         "if provided."),
        (1, -1, None, "Value -1 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, "
                      "if provided."),
        (1, 43_201, None, "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
                          "43200, if provided."),
        (1, None, -1, "Value -1 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                      "if provided."),
        (1, None, 21, "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                      "if provided."),
    ],
)  # fmt: skip
def test_receive_parameters_one_past_a_bound_are_refused_in_sqss_words(
    count: int, visibility: int | None, wait: int | None, message: str
) -> None:
    with pytest.raises(SqsInvalidParameterValue) as raised:
        receive_parameters(QUEUE, count, visibility, wait)
    assert str(raised.value) == message
