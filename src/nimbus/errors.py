"""The error tree. Each class carries the wire name and HTTP status Lambda uses for it.

    NimbusError                         (500 ServiceException: a bug or failure of ours)
    ├── ClientError                     caller's fault, 4xx
    │   ├── InvalidParameterValue       400
    │   ├── InvalidParameter            400  (CloudWatch Logs' InvalidParameterException: a bad filter pattern)
    │   ├── InvalidRequestContent       400  (body is not JSON)
    │   ├── ValidationError             400  (botocore-style constraint violation)
    │   ├── InvalidZipFile              400  (we answer 400: the caller sent a bad zip)
    │   ├── AuthError                   403
    │   │   ├── UnrecognizedClient      403  (unknown access key)
    │   │   │   └── MissingAuthenticationToken 403  (no Authorization header at all)
    │   │   ├── ExpiredToken            403  (a session key past its expiry)
    │   │   ├── InvalidSignature        403  (wrong or expired signature)
    │   │   └── AccessDenied            403  (a signed caller whom policy does not allow: each API's own name)
    │   ├── ResourceNotFound            404
    │   ├── ResourceConflict            409
    │   ├── PreconditionFailed          412
    │   ├── PolicyLengthExceeded        400  (a resource-based policy past 20 KB)
    │   ├── RequestTooLarge             413  (RequestEntityTooLargeException on the wire)
    │   ├── UnsupportedMediaType        415
    │   ├── TooManyRequests             429
    │   ├── QuotaExceeded               402  (Scheduler's ServiceQuotaExceededException: 500 schedule groups)
    │   ├── QueueError                  400  SQS's errors (shape name on the wire, query code in a header):
    │       ├── QueueDoesNotExist, QueueNameExists, InvalidAttributeName, InvalidAttributeValue,
    │       ├── ReceiptHandleIsInvalid, MessageNotInflight, InvalidMessageContents, UnsupportedOperation,
    │       ├── EmptyBatchRequest, TooManyEntriesInBatchRequest, BatchEntryIdsNotDistinct,
    │       ├── BatchRequestTooLong, InvalidBatchEntryId,
    │       └── SqsInvalidParameterValue, SqsMissingParameter   (not modeled: botocore's Code is the query code)
    │   └── SnsError                    400  SNS's errors (query protocol: `wire_name` is the XML error's Code):
    │       ├── SnsNotFound 404, SnsInvalidParameter, SnsInvalidParameterValue (ParameterValueInvalid),
    │       ├── SnsAuthorizationError 403, SnsTooManyEntries, SnsBatchIdsNotDistinct, SnsEmptyBatch,
    │       └── SnsBatchTooLong, SnsInvalidBatchEntryId
    │   └── EventsError                 400  EventBridge's errors (JSON 1.1: `wire_name` is the `__type`):
    │       └── InvalidEventPattern, EventsResourceExists (ResourceAlreadyExistsException), EventsLimitExceeded
    │   └── IamError                    400  IAM's and STS's errors (query protocol: `wire_name` is the Code):
    │       ├── NoSuchEntity 404, EntityAlreadyExists 409, LimitExceeded 409, DeleteConflict 409,
    │       └── MalformedPolicyDocument, IamInvalidInput (InvalidInput), IamValidation (ValidationError)
    ├── ServiceError                    500
    ├── ServiceUnavailable              503  (the API holds too many request bytes: retry)
    └── InvalidFunctionReply            502  (an HTTP trigger's function replied what no response can be made of;
                                              the trigger's front answers it in its own shape)

Function errors are not exceptions of ours: they are invocation results (see protocol.records.InvokeResult).
`api/errors.py` alone turns these into the wire form.
"""

from __future__ import annotations


class NimbusError(Exception):
    wire_name = "ServiceException"
    status = 500
    #: Lambda's model spells the message member "message" for some shapes and "Message" for others
    message_key = "Message"
    error_type = "Service"
    #: the error code of a query-compatible JSON service (SQS), sent in `x-amzn-query-error`; None: the wire name
    query_code: str | None = None

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class ServiceError(NimbusError):
    pass


class ServiceUnavailable(NimbusError):
    wire_name = "ServiceUnavailableException"
    status = 503


class InvalidFunctionReply(NimbusError):
    """A function behind a function URL or HTTP API replied something that is no HTTP response (not JSON, a bad
    statusCode, bad base64, a header that would split the response): the function's fault, answered by the front
    (502 for URLs, API Gateway's 500 for HTTP APIs), never the platform's crash."""

    wire_name = "InvalidFunctionResponseException"
    status = 502
    error_type = "User"


class ClientError(NimbusError):
    status = 400
    error_type = "User"


class InvalidParameterValue(ClientError):
    wire_name = "InvalidParameterValueException"
    message_key = "message"


class InvalidParameter(ClientError):
    """CloudWatch Logs' name for a bad parameter (Lambda's is InvalidParameterValueException)."""

    wire_name = "InvalidParameterException"
    message_key = "message"


class InvalidRequestContent(ClientError):
    wire_name = "InvalidRequestContentException"
    message_key = "message"


class ValidationError(ClientError):
    wire_name = "ValidationException"
    message_key = "message"


class InvalidZipFile(ClientError):
    wire_name = "InvalidParameterValueException"
    message_key = "message"


class AuthError(ClientError):
    status = 403


class UnrecognizedClient(AuthError):
    wire_name = "UnrecognizedClientException"
    message_key = "message"


class MissingAuthenticationToken(UnrecognizedClient):
    wire_name = "MissingAuthenticationTokenException"


class ExpiredToken(AuthError):
    """A session key (STS, a function instance's) used after its expiry: AWS's ExpiredTokenException (JSON, REST)
    or ExpiredToken (query protocol)."""

    wire_name = "ExpiredTokenException"
    query_code = "ExpiredToken"
    message_key = "message"


class InvalidSignature(AuthError):
    wire_name = "InvalidSignatureException"
    message_key = "message"


class AccessDenied(AuthError):
    """Policy does not allow the caller the action (api/authorize.py). Each API answers it under its own name:
    Lambda, Scheduler, API Gateway `AccessDeniedException` 403; SQS `AccessDenied` (the query code); SNS
    `AuthorizationError`; EventBridge and CloudWatch Logs `AccessDeniedException` 400; IAM and STS `AccessDenied`."""

    wire_name = "AccessDeniedException"
    query_code = "AccessDenied"


class ResourceNotFound(ClientError):
    wire_name = "ResourceNotFoundException"
    status = 404


class ResourceConflict(ClientError):
    wire_name = "ResourceConflictException"
    status = 409
    message_key = "message"


class PreconditionFailed(ClientError):
    wire_name = "PreconditionFailedException"
    status = 412
    message_key = "message"


class PolicyLengthExceeded(ClientError):
    wire_name = "PolicyLengthExceededException"
    message_key = "message"


class RequestTooLarge(ClientError):
    wire_name = "RequestEntityTooLargeException"
    status = 413
    message_key = "message"


class UnsupportedMediaType(ClientError):
    wire_name = "UnsupportedMediaTypeException"
    status = 415
    message_key = "message"


class TooManyRequests(ClientError):
    wire_name = "TooManyRequestsException"
    status = 429
    message_key = "message"


class QuotaExceeded(ClientError):
    """An account quota reached (Scheduler's schedule groups): the caller must delete something first."""

    wire_name = "ServiceQuotaExceededException"
    status = 402


class UnknownOperation(ClientError):
    wire_name = "UnknownOperationException"
    status = 404
    message_key = "message"


class QueueError(ClientError):
    """An SQS error: `wire_name` is the model's shape name (`__type`), `query_code` the code of SQS's query
    protocol, which botocore reads from the `x-amzn-query-error` header (awsQueryCompatible)."""

    wire_name = "InvalidParameterValue"
    query_code = "InvalidParameterValue"
    message_key = "message"


class QueueDoesNotExist(QueueError):
    wire_name = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"


class QueueNameExists(QueueError):
    wire_name = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class InvalidAttributeName(QueueError):
    wire_name = query_code = "InvalidAttributeName"


class InvalidAttributeValue(QueueError):
    wire_name = query_code = "InvalidAttributeValue"


class ReceiptHandleIsInvalid(QueueError):
    wire_name = query_code = "ReceiptHandleIsInvalid"


class MessageNotInflight(QueueError):
    wire_name = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class InvalidMessageContents(QueueError):
    wire_name = query_code = "InvalidMessageContents"


class UnsupportedOperation(QueueError):
    wire_name = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class EmptyBatchRequest(QueueError):
    wire_name = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(QueueError):
    wire_name = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(QueueError):
    wire_name = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class BatchRequestTooLong(QueueError):
    wire_name = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class InvalidBatchEntryId(QueueError):
    wire_name = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"


class SqsInvalidParameterValue(QueueError):
    """A value SQS refuses that its model names no exception for (botocore: ClientError, Code InvalidParameterValue)."""

    wire_name = query_code = "InvalidParameterValue"


class SqsMissingParameter(QueueError):
    wire_name = query_code = "MissingParameter"


class SnsError(ClientError):
    """An SNS error: `wire_name` is the Code of the query protocol's XML error, the model's error code (from which
    botocore picks the modeled exception: `client.exceptions.NotFoundException` for `NotFound`)."""

    wire_name = "InvalidParameter"


class SnsNotFound(SnsError):
    wire_name = "NotFound"
    status = 404


class SnsInvalidParameter(SnsError):
    wire_name = "InvalidParameter"


class SnsInvalidParameterValue(SnsError):
    wire_name = "ParameterValueInvalid"


class SnsAuthorizationError(SnsError):
    wire_name = "AuthorizationError"
    status = 403


class SnsTooManyEntries(SnsError):
    wire_name = "TooManyEntriesInBatchRequest"


class SnsBatchIdsNotDistinct(SnsError):
    wire_name = "BatchEntryIdsNotDistinct"


class SnsEmptyBatch(SnsError):
    wire_name = "EmptyBatchRequest"


class SnsBatchTooLong(SnsError):
    wire_name = "BatchRequestTooLong"


class SnsInvalidBatchEntryId(SnsError):
    wire_name = "InvalidBatchEntryId"


class EventsError(ClientError):
    """An EventBridge error: `wire_name` is the model's exception shape (JSON 1.1's `__type`), all 400."""

    wire_name = "ValidationException"
    message_key = "message"


class InvalidEventPattern(EventsError):
    wire_name = "InvalidEventPatternException"


class EventsResourceExists(EventsError):
    wire_name = "ResourceAlreadyExistsException"


class EventsLimitExceeded(EventsError):
    wire_name = "LimitExceededException"


class IamError(ClientError):
    """An IAM or STS error: `wire_name` is the Code of the query protocol's XML error, from which botocore picks the
    modeled exception (`client.exceptions.NoSuchEntityException` for `NoSuchEntity`)."""

    wire_name = "InvalidInput"


class NoSuchEntity(IamError):
    wire_name = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(IamError):
    wire_name = "EntityAlreadyExists"
    status = 409


class LimitExceeded(IamError):
    wire_name = "LimitExceeded"
    status = 409


class DeleteConflict(IamError):
    wire_name = "DeleteConflict"
    status = 409


class MalformedPolicyDocument(IamError):
    wire_name = "MalformedPolicyDocument"


class IamInvalidInput(IamError):
    wire_name = "InvalidInput"


class IamValidation(IamError):
    """A value the model refuses (a pattern, a length, a range): IAM's and STS's `ValidationError`."""

    wire_name = "ValidationError"
