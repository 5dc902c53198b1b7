"""The one place where our errors become wire errors (REST-JSON for Lambda and for API Gateway, JSON 1.1 for
CloudWatch Logs, JSON 1.0 for SQS)."""

from __future__ import annotations

import json
import logging

from nimbus.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    NimbusError,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
    UnknownOperation,
    ValidationError,
)

log = logging.getLogger("nimbus.api")


def to_nimbus(exc: BaseException) -> NimbusError:
    if isinstance(exc, NimbusError):
        return exc
    log.error("internal error", exc_info=exc)
    return ServiceError("An internal error occurred in Nimbus; the server log has the details.")


def rest_json(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Lambda's REST-JSON error: status, x-amzn-ErrorType, and a body with Type + message/Message."""
    err = to_nimbus(exc)
    body: dict[str, str] = {"Type": err.error_type, err.message_key: err.message}
    body.update(err.fields)
    headers = [(b"x-amzn-errortype", err.wire_name.encode()), (b"content-type", b"application/json")]
    return err.status, headers, json.dumps(body).encode()


def json_11(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """AWS JSON 1.1 error (CloudWatch Logs): `__type` in the body; client errors are 400 except auth (403), and
    ours are 500, or 503 when the server is saturated (retried by SDKs)."""
    err = to_nimbus(exc)
    status = err.status if err.status in (403, 500, 503) else 400
    body = json.dumps({"__type": err.wire_name, "message": err.message}).encode()
    return status, [(b"content-type", b"application/x-amz-json-1.1")], body


def json_10(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """AWS JSON 1.0 error of a query-compatible service (SQS): `__type` is the model's shape name, and the
    `x-amzn-query-error` header carries the query protocol's code and fault, from which botocore picks the
    modeled exception (`client.exceptions.QueueDoesNotExist`) and the Code
    (`AWS.SimpleQueueService.NonExistentQueue`)."""
    err = to_nimbus(exc)
    status = err.status if err.query_code or err.status in (403, 413, 500, 503) else 400
    code = err.query_code or err.wire_name
    fault = b"Sender" if status < 500 else b"Receiver"
    body = json.dumps({"__type": err.wire_name, "message": err.message}).encode()
    headers = [(b"content-type", b"application/x-amz-json-1.0"), (b"x-amzn-query-error", code.encode() + b";" + fault)]
    return status, headers, body


#: API Gateway's names for our errors (BadRequestException is its one 400)
_APIGW = (
    (ResourceNotFound, "NotFoundException", 404),
    (UnknownOperation, "NotFoundException", 404),
    (ValidationError, "BadRequestException", 400),
    (InvalidParameterValue, "BadRequestException", 400),
    (InvalidRequestContent, "BadRequestException", 400),
    (ResourceConflict, "ConflictException", 409),
    (TooManyRequests, "TooManyRequestsException", 429),
)


def apigw_json(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """API Gateway's REST-JSON error (apigatewayv2): status, `x-amzn-ErrorType: NotFoundException` and a body
    `{"message": ...}`; auth errors keep their 403 names, and ours stay 500/503."""
    err = to_nimbus(exc)
    name, status = err.wire_name, err.status
    for cls, apigw_name, apigw_status in _APIGW:
        if isinstance(err, cls):
            name, status = apigw_name, apigw_status
            break
    headers = [(b"x-amzn-errortype", name.encode()), (b"content-type", b"application/json")]
    return status, headers, json.dumps({"message": err.message}).encode()
