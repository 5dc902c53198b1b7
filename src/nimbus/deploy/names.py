"""Physical names for resources a template does not name, in CloudFormation's scheme:
`<stack>-<LogicalId>-<SUFFIX>`, the suffix 13 random upper-case letters and digits, the stack and logical-id parts
shortened (each to its share of what the type allows) when the whole would pass the type's length limit, so the
suffix always survives and two resources of one stack never collide.

One helper for the engine and the providers: a provider asks it when a name property is absent.
"""

from __future__ import annotations

import secrets
import string

#: CloudFormation's suffix: 13 characters of A-Z0-9
SUFFIX_LENGTH = 13
_ALPHABET = string.ascii_uppercase + string.digits


def random_suffix(length: int = SUFFIX_LENGTH) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def physical_name(stack: str, logical_id: str, max_length: int, *, end: str = "", suffix: str | None = None) -> str:
    """`<stack>-<LogicalId>-<SUFFIX><end>` within `max_length` (`end` is a required ending such as `.fifo`)."""
    tail = suffix if suffix is not None else random_suffix()
    room = max_length - len(tail) - len(end) - 2  # the two hyphens
    if room < 2:
        return (tail + end)[-max_length:]
    if len(stack) + len(logical_id) > room:
        # each part keeps at least half the room; a short part gives what it does not use to the other
        half = room // 2
        stack_room = max(half, room - len(logical_id))
        stack = stack[:stack_room]
        logical_id = logical_id[: room - len(stack)]
    return f"{stack}-{logical_id}-{tail}{end}"
