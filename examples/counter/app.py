"""Module-level state lives as long as the instance: the count grows while the instance stays warm.

A new instance (cold start: first call, after a code/config update, or after the keep-alive ran out) starts at 1.
"""

import os
import time
import uuid

INSTANCE_ID = uuid.uuid4().hex[:8]
STARTED_AT = time.time()
INVOCATIONS = 0
print(f"init instance {INSTANCE_ID}")


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    return {
        "instance": INSTANCE_ID,
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
        "warm": INVOCATIONS > 1,
        "instance_age_s": round(time.time() - STARTED_AT, 3),
    }
