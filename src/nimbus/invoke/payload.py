"""What the door checks of an invocation's input before anything runs: the payload and the client context.

Both are checked as Lambda checks them (a bad document is the caller's 400, never our 500), whatever the source:
the Lambda API, function URLs and HTTP APIs, queues, and the event bus, schedules and topics. The payload is
passed on as the bytes it came in: it is parsed once to validate it and never re-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.scanner

from nimbus.control.validation import INVOKE_PAYLOAD_MAX
from nimbus.errors import InvalidRequestContent, RequestTooLarge

CLIENT_CONTEXT_MAX = 3583
_decoder = json.JSONDecoder()
_parse = _decoder.decode
#: the JSON scanner itself: JSONDecoder.decode adds two regex matches (white space around) and two Python calls
_scan = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]  # typeshed: it takes a decoder
EMPTY_PAYLOAD = b"{}"


def check_payload(payload: bytes) -> bytes:
    """The payload to send: `payload` itself when it is a JSON document, `{}` when it is empty or blank."""
    if len(payload) > INVOKE_PAYLOAD_MAX:
        raise RequestTooLarge(
            f"Request must be smaller than {INVOKE_PAYLOAD_MAX} bytes for the InvokeFunction operation"
        )
    if not payload.strip():
        return EMPTY_PAYLOAD
    try:
        try:  # UTF-8, the usual case, parsed straight (json.loads on bytes first guesses the encoding)
            text = payload.decode("utf-8")
            try:
                _, end = _scan(text, 0)
            except StopIteration:  # the scanner's word for "no JSON value here"
                end = -1
            if end != len(text):  # white space around one value, or no single value: the decoder judges it
                _parse(text)
        except ValueError:  # other encodings json.loads accepts, and its own words for what is wrong
            json.loads(payload)
    except RecursionError:  # nested past the parser's recursion limit: not a ValueError
        raise InvalidRequestContent(
            "Could not parse request body into json: the document is nested too deeply"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    return payload


def decode_client_context(raw: str | None) -> str | None:
    """The client context's JSON text from its Base64 form (None when there is none)."""
    if not raw:
        return None
    if len(raw) > CLIENT_CONTEXT_MAX:
        raise RequestTooLarge(f"Client context must be smaller than {CLIENT_CONTEXT_MAX} bytes.")
    try:
        decoded = base64.b64decode(raw, validate=True).decode()
        json.loads(decoded)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from None
    return decoded
