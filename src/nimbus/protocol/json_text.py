"""JSON text from outside (a request's attribute, a policy, a log line), read so that nesting too deep for the parser
is one more malformed document: `json.loads` raises RecursionError for a document nested past its recursion limit
(a few thousand `[` do it, well inside any size limit), which no `except ValueError` catches, so the caller's 400
became a 500 wherever a document was checked that way.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """`json.loads`, raising ValueError (never RecursionError) for a document nested too deeply."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None
