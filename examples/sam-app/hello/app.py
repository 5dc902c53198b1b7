import os

from shared import reply


def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return reply(200, {"message": f"{os.environ['GREETING']}, {name}!", "orders_queue": os.environ["ORDERS_QUEUE_URL"]})
