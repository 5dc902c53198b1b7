"""Time as Lambda prints it."""

from __future__ import annotations

import datetime as dt
import time


def lambda_timestamp(when: float | None = None) -> str:
    """Lambda's LastModified / CreatedDate format: 2019-08-14T22:24:28.000+0000."""
    t = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"
