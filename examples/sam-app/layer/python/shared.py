"""Shared by every function of the app (the layer is mounted at /opt, and /opt/python is on sys.path)."""

import json


def reply(status: int, body: object) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
