"""Greets event["name"] (default: world) with the GREETING environment variable."""

import os


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    greeting = os.environ.get("GREETING", "Hello")
    print(f"greeting {name}")
    return {"message": f"{greeting}, {name}!"}
