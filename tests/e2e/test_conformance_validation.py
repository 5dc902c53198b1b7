"""Conformance: which error Lambda answers for a bad input, driven through boto3 with client-side validation off.

Two kinds, as the API reference's "Errors" sections and the service model draw them: a value the model refuses
(pattern, length, range, enum, a missing member) is a ValidationException naming every violation with the
member's lowerCamel wire name; a value the model takes but a service rule refuses is an
InvalidParameterValueException; a lookup of a function that cannot exist is simply not found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import ECHO, REGION, ROLE, arn, expect_error, make_zip, raw_client

VALIDATION = "ValidationException"
INVALID = "InvalidParameterValueException"
NOT_FOUND = "ResourceNotFoundException"


@pytest.fixture(scope="module")
def raw(server: Any) -> Any:
    return raw_client(server)


@pytest.fixture(scope="module")
def fn(raw: Any) -> Iterator[str]:
    """One function with a published version 1, shared by the read-only checks."""
    name = "t-conformance-validation"
    raw.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})}, Publish=True)  # fmt: skip
    yield name
    raw.delete_function(FunctionName=name)


def message(error: Any) -> str:
    return str(error.response["Error"]["Message"])


# ---- the model's constraints: ValidationException ----


def test_two_architectures_break_the_models_list_length(raw: Any, fn_name: str) -> None:
    """API reference, CreateFunction, Request Syntax: Architectures has 1 item at most (model ArchitecturesList)."""
    e = expect_error(raw.create_function, VALIDATION, 400, FunctionName=fn_name, Runtime="python3.11", Role=ROLE,
                     Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})},
                     Architectures=["x86_64", "arm64"])  # fmt: skip
    assert message(e) == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )


def test_a_routing_weight_of_2_breaks_the_models_range(raw: Any, fn: str) -> None:
    """API reference, AliasRoutingConfiguration: a weight is a double from 0.0 to 1.0."""
    e = expect_error(raw.create_alias, VALIDATION, 400, FunctionName=fn, Name="heavy", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"1": 2}})  # fmt: skip
    assert message(e) == (
        "1 validation error detected: Value '{1=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy "
        "constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0]"
    )


def test_an_all_digit_alias_name_breaks_the_models_pattern(raw: Any, fn: str) -> None:
    """API reference, CreateAlias, Name: pattern (?!^[0-9]+$)([a-zA-Z0-9-_]+)."""
    e = expect_error(raw.create_alias, VALIDATION, 400, FunctionName=fn, Name="123", FunctionVersion="1")
    assert message(e) == (
        "1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
    )


def test_zero_provisioned_concurrency_breaks_the_models_minimum(raw: Any, fn: str) -> None:
    """API reference, PutProvisionedConcurrencyConfig: ProvisionedConcurrentExecutions, minimum 1."""
    e = expect_error(raw.put_provisioned_concurrency_config, VALIDATION, 400, FunctionName=fn, Qualifier="1",
                     ProvisionedConcurrentExecutions=0)  # fmt: skip
    assert message(e) == (
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_an_invalid_function_version_filter_breaks_the_models_enum(raw: Any, fn: str) -> None:
    """API reference, ListFunctions, FunctionVersion: valid value ALL; ListAliases: a version or $LATEST."""
    e = expect_error(raw.list_functions, VALIDATION, 400, FunctionVersion="SOME")
    assert message(e) == (
        "1 validation error detected: Value 'SOME' at 'functionVersion' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL]"
    )
    e = expect_error(raw.list_aliases, VALIDATION, 400, FunctionName=fn, FunctionVersion="latest")
    assert "Value 'latest' at 'functionVersion'" in message(e)


def test_an_invalid_layer_runtime_breaks_the_models_enum(raw: Any) -> None:
    """API reference, PublishLayerVersion, CompatibleRuntimes: each a Runtime enum value."""
    e = expect_error(raw.publish_layer_version, VALIDATION, 400, LayerName="t-conformance-bad-runtime",
                     Content={"ZipFile": make_zip({"a.txt": "a"})}, CompatibleRuntimes=["cobol"])  # fmt: skip
    assert message(e).startswith(
        "1 validation error detected: Value '[cobol]' at 'compatibleRuntimes' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: ["
    ), message(e)


def test_every_violation_is_named_in_one_answer(raw: Any, fn: str) -> None:
    """The model's validation reports each violation: "2 validation errors detected: ...; ..."."""
    e = expect_error(raw.create_alias, VALIDATION, 400, FunctionName=fn, Name="123", FunctionVersion="one")
    text = message(e)
    assert text.startswith("2 validation errors detected: Value '123' at 'name' failed"), text
    assert "; Value 'one' at 'functionVersion' failed to satisfy constraint" in text


def test_a_function_name_outside_the_pattern_is_a_validation_error(raw: Any) -> None:
    """API reference, GetFunction, FunctionName: the model's pattern (a name, a partial or a full ARN)."""
    e = expect_error(raw.get_function, VALIDATION, 400, FunctionName="no spaces allowed")
    pattern = ("(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
               "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")  # fmt: skip
    assert message(e) == (
        "1 validation error detected: Value 'no spaces allowed' at 'functionName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )


def test_reserved_concurrency_below_zero_is_a_validation_error(raw: Any, fn: str) -> None:
    """API reference, PutFunctionConcurrency: ReservedConcurrentExecutions, minimum 0."""
    e = expect_error(raw.put_function_concurrency, VALIDATION, 400, FunctionName=fn, ReservedConcurrentExecutions=-1)
    assert "Value '-1' at 'reservedConcurrentExecutions'" in message(e)


# ---- service rules: InvalidParameterValueException ----


def test_an_unknown_runtime_is_a_service_rule(raw: Any, fn_name: str) -> None:
    """API reference, CreateFunction, Errors: an unknown Runtime is InvalidParameterValueException, whose message
    lists the enum "or be a valid ARN" (the service checks it, not the model)."""
    e = expect_error(raw.create_function, INVALID, 400, FunctionName=fn_name, Runtime="cobol", Role=ROLE,
                     Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip
    assert message(e).startswith("Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum")
    assert message(e).endswith("or be a valid ARN")


def test_create_function_refuses_a_name_too_long_as_a_service_rule(raw: Any) -> None:
    """API reference, CreateFunction, Errors: the model takes up to 140 characters; a function name has 64 at most,
    a service rule (InvalidParameterValueException)."""
    expect_error(raw.create_function, INVALID, 400, FunctionName="x" * 65, Runtime="python3.11", Role=ROLE,
                 Handler="app.handler", Code={"ZipFile": make_zip({"app.py": ECHO})})  # fmt: skip


# ---- lookups: not found ----


def test_a_name_too_long_to_exist_is_not_found(raw: Any) -> None:
    """API reference, GetFunction / DeleteFunction / Invoke, Errors: ResourceNotFoundException."""
    name = "x" * 65
    for call in (raw.get_function, raw.delete_function, raw.get_function_configuration):
        e = expect_error(call, NOT_FOUND, 404, FunctionName=name)
        assert arn(name) in message(e)
    expect_error(raw.invoke, NOT_FOUND, 404, FunctionName=name, Payload=b"{}")


def test_a_qualifier_in_the_wrong_case_is_not_found(raw: Any, fn: str) -> None:
    """`$latest` matches the model's qualifier pattern but names no version: ResourceNotFoundException."""
    for call in (raw.get_function, raw.get_function_configuration, raw.delete_function):
        e = expect_error(call, NOT_FOUND, 404, FunctionName=fn, Qualifier="$latest")
        assert message(e) == f"Function not found: {arn(fn)}:$latest"
    expect_error(raw.invoke, NOT_FOUND, 404, FunctionName=fn, Qualifier="$latest", Payload=b"{}")


def test_a_function_arn_of_another_region_is_not_reachable(raw: Any, fn: str) -> None:
    """A function ARN from another region: "Functions from 'eu-central-1' are not reachable in this region"."""
    other = f"arn:aws:lambda:eu-central-1:000000000000:function:{fn}"
    for call in (raw.get_function, raw.get_function_configuration):
        e = expect_error(call, NOT_FOUND, 404, FunctionName=other)
        assert message(e) == f"Functions from 'eu-central-1' are not reachable in this region ('{REGION}')"
    expect_error(raw.invoke, NOT_FOUND, 404, FunctionName=other, Payload=b"{}")


def test_a_missing_function_is_named_by_its_latest_arn_where_lambda_does(raw: Any) -> None:
    """GetFunctionConfiguration and Invoke name the `$LATEST` ARN of a missing function; GetFunction the
    unqualified one."""
    name = "t-conformance-never-created"
    e = expect_error(raw.get_function_configuration, NOT_FOUND, 404, FunctionName=name)
    assert message(e) == f"Function not found: {arn(name)}:$LATEST"
    e = expect_error(raw.invoke, NOT_FOUND, 404, FunctionName=name, Payload=b"{}")
    assert message(e) == f"Function not found: {arn(name)}:$LATEST"
    e = expect_error(raw.get_function, NOT_FOUND, 404, FunctionName=name)
    assert message(e) == f"Function not found: {arn(name)}"


def test_an_unknown_invocation_type_breaks_the_models_enum(raw: Any, fn: str) -> None:
    """API reference, Invoke, InvocationType: Event, RequestResponse or DryRun (the X-Amz-Invocation-Type header)."""
    e = expect_error(raw.invoke, VALIDATION, 400, FunctionName=fn, InvocationType="Later", Payload=b"{}")
    assert message(e) == (
        "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
    )
