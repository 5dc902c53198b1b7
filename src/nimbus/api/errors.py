"""The one place where our errors become wire errors (REST-JSON for Lambda, API Gateway and Scheduler, JSON 1.1 for
CloudWatch Logs, JSON 1.0 for SQS; and, for the services Nimbus does not serve, their own protocols' shapes)."""

from __future__ import annotations

import json
import logging
from xml.sax.saxutils import escape

from nimbus.errors import (
    AccessDenied,
    IamValidation,
    InvalidParameter,
    InvalidParameterValue,
    InvalidRequestContent,
    InvalidSignature,
    MissingAuthenticationToken,
    NimbusError,
    QuotaExceeded,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
    SnsAuthorizationError,
    SnsInvalidParameter,
    TooManyRequests,
    UnknownOperation,
    UnrecognizedClient,
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
    ours are 500, or 503 when the server is saturated (retried by SDKs). A denial by policy is 400, as these
    services answer their AccessDeniedException."""
    err = to_nimbus(exc)
    status = err.status if err.status in (403, 500, 503) and not isinstance(err, AccessDenied) else 400
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


#: EventBridge Scheduler's names for our errors (its model's error shapes and their httpStatusCode)
_SCHEDULER = (
    (ResourceNotFound, "ResourceNotFoundException", 404),
    (ValidationError, "ValidationException", 400),
    (InvalidParameterValue, "ValidationException", 400),
    (InvalidRequestContent, "ValidationException", 400),
    (ResourceConflict, "ConflictException", 409),
    (QuotaExceeded, "ServiceQuotaExceededException", 402),
    (TooManyRequests, "ThrottlingException", 429),
    (ServiceError, "InternalServerException", 500),
)


def scheduler_json(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """EventBridge Scheduler's REST-JSON error: status, `x-amzn-ErrorType: ValidationException` and a body
    `{"Message": ...}` (the model's member); auth errors keep their 403 names, a full server its 503."""
    err = to_nimbus(exc)
    name, status = err.wire_name, err.status
    for cls, scheduler_name, scheduler_status in _SCHEDULER:
        if isinstance(err, cls):
            name, status = scheduler_name, scheduler_status
            break
    headers = [(b"x-amzn-errortype", name.encode()), (b"content-type", b"application/json")]
    return status, headers, json.dumps({"Message": err.message}).encode()


# ---- the protocols of the services Nimbus does not serve (api/unserved.py): their clients must parse our refusal

#: our errors under the codes the query and EC2 protocols' services use for them
_QUERY_CODES = (
    (MissingAuthenticationToken, "MissingAuthenticationToken"),
    (UnrecognizedClient, "InvalidClientTokenId"),
    (InvalidSignature, "SignatureDoesNotMatch"),
    (UnknownOperation, "InvalidAction"),
)
#: and the codes S3 uses (rest-xml)
_S3_CODES = (
    (MissingAuthenticationToken, "AccessDenied"),
    (UnrecognizedClient, "InvalidAccessKeyId"),
    (InvalidSignature, "SignatureDoesNotMatch"),
    (UnknownOperation, "NotImplemented"),
)


def _code(err: NimbusError, codes: tuple[tuple[type[NimbusError], str], ...]) -> str:
    return next((code for cls, code in codes if isinstance(err, cls)), err.query_code or err.wire_name)


def query_xml(
    exc: BaseException, request_id: str, *, ec2: bool = False, namespace: str = "https://nimbus.invalid/doc/"
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The query protocol's error (STS, SNS, SQS's old protocol): `<ErrorResponse><Error><Type>Sender</Type>
    <Code>InvalidAction</Code>...`, 400 for the caller's fault; EC2's variant wraps it in `<Response><Errors>`."""
    err = to_nimbus(exc)
    status = 400 if isinstance(err, UnknownOperation) else err.status
    code, message = escape(_code(err, _QUERY_CODES)), escape(err.message)
    if ec2:
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")  # fmt: skip
    else:
        fault = "Sender" if status < 500 else "Receiver"
        body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")  # fmt: skip
    return status, [(b"content-type", b"text/xml")], ('<?xml version="1.0"?>\n' + body).encode()


#: SNS's XML namespace, in its answers and errors
SNS_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


def sns_xml(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """SNS's error (the query protocol's `ErrorResponse` in SNS's namespace): its own errors by their codes
    (`NotFound` 404, `InvalidParameter`, `ParameterValueInvalid`, ...); a value the model refuses, or a body that is
    no form, is `InvalidParameter`; a signature problem keeps the query protocol's auth codes."""
    err = to_nimbus(exc)
    if isinstance(err, ValidationError | InvalidParameterValue | InvalidParameter | InvalidRequestContent):
        err = SnsInvalidParameter(err.message)
    elif isinstance(err, AccessDenied):
        err = SnsAuthorizationError(err.message)
    return query_xml(err, request_id, namespace=SNS_NAMESPACE)


#: IAM's and STS's XML namespaces, in their answers and errors
IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def _iam_family(exc: BaseException, request_id: str, namespace: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    err = to_nimbus(exc)
    if isinstance(err, ValidationError | InvalidParameterValue | InvalidParameter | InvalidRequestContent):
        err = IamValidation(err.message)
    return query_xml(err, request_id, namespace=namespace)


def iam_xml(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """IAM's error (the query protocol's `ErrorResponse` in IAM's namespace): its own errors by their codes
    (`NoSuchEntity` 404, `EntityAlreadyExists` 409, `LimitExceeded` 409, `DeleteConflict` 409,
    `MalformedPolicyDocument` 400, ...); a value the model refuses is `ValidationError`; a signature problem keeps
    the query protocol's auth codes (`InvalidClientTokenId`, `SignatureDoesNotMatch`, `ExpiredToken`)."""
    return _iam_family(exc, request_id, IAM_NAMESPACE)


def sts_xml(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """STS's error, as IAM's in STS's namespace (`AccessDenied` 403, `ValidationError` 400, the auth codes)."""
    return _iam_family(exc, request_id, STS_NAMESPACE)


def rest_xml(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """S3's error (rest-xml): `<Error><Code>NotImplemented</Code><Message>...</Message>`, 501 for an operation that
    is not implemented (botocore does not retry a 501)."""
    err = to_nimbus(exc)
    status = 501 if isinstance(err, UnknownOperation) else err.status
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(_code(err, _S3_CODES))}</Code>'
            f"<Message>{escape(err.message)}</Message><RequestId>{request_id}</RequestId></Error>")  # fmt: skip
    return status, [(b"content-type", b"application/xml")], body.encode()


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    size = len(data)
    head = bytes([0x60 | size]) if size < 24 else bytes([0x78, size]) if size < 256 else b"\x79" + size.to_bytes(2)
    return head + data


def rpc_v2_cbor(exc: BaseException) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Smithy RPC v2 CBOR's error (CloudWatch's current protocol): a CBOR map with `__type` and `message`."""
    err = to_nimbus(exc)
    status = err.status if err.status in (403, 500, 503) else 400
    message = err.message[:60000]
    body = b"\xa2" + _cbor_text("__type") + _cbor_text(err.wire_name) + _cbor_text("message") + _cbor_text(message)
    return status, [(b"content-type", b"application/cbor"), (b"smithy-protocol", b"rpc-v2-cbor")], body


def unserved(
    protocol: str, json_version: str, exc: BaseException, request_id: str, *, apigw: bool = False
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """`exc` in `protocol` (a botocore protocol name), for a request of an API or operation Nimbus does not serve."""
    if protocol == "json":
        return json_10(exc) if json_version == "1.0" else json_11(exc)
    if protocol == "smithy-rpc-v2-cbor":
        return rpc_v2_cbor(exc)
    if protocol == "rest-xml":
        return rest_xml(exc, request_id)
    if protocol in ("query", "ec2"):
        return query_xml(exc, request_id, ec2=protocol == "ec2")
    return apigw_json(exc) if apigw else rest_json(exc)
