import json

from shared import reply


def handler(event, context):
    orders = [json.loads(record["body"]) for record in event["Records"]]
    for order in orders:
        print(json.dumps({"order": order, "status": "taken"}))
    return reply(200, {"taken": len(orders)})
