import json
import time


def handler(event, context):
    print(json.dumps({"tick": time.strftime("%H:%M:%S"), "event": event}))
    return {"ok": True}
