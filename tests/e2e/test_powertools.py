"""Powertools for AWS Lambda (Python), shipped as a layer the way users ship it, works inside a function as on
Lambda: structured Logger lines carry the request id, Metrics print EMF, event data classes parse real events."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

FUNCTION = '''
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source

logger = Logger(service="orders")
metrics = Metrics(namespace="Nimbus", service="orders")


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=APIGatewayProxyEvent)
def handler(event: APIGatewayProxyEvent, context):
    logger.info("order received", extra={"path": event.path})
    metrics.add_metric(name="Orders", unit=MetricUnit.Count, value=1)
    return {
        "statusCode": 200,
        "body": json.dumps({"method": event.http_method, "id": event.query_string_parameters.get("id"),
                            "user": event.json_body["user"]}),
    }
'''.replace("from aws_lambda_powertools import", "import json\nfrom aws_lambda_powertools import", 1)

API_EVENT = {
    "resource": "/orders",
    "path": "/orders",
    "httpMethod": "POST",
    "headers": {"content-type": "application/json"},
    "queryStringParameters": {"id": "42"},
    "requestContext": {"requestId": "r-1", "stage": "prod", "httpMethod": "POST", "path": "/prod/orders"},
    "body": json.dumps({"user": "ada"}),
    "isBase64Encoded": False,
}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is a pinned test dependency: run `make install`"
    assert spec.origin
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


@pytest.fixture(scope="module")
def powertools_layer(server: Any) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for module in ("aws_lambda_powertools", "jmespath", "typing_extensions"):
            path = _package_dir(module)
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            files = [f for f in files if "__pycache__" not in f.parts]
            for f in files:
                zf.write(f, "python/" + str(f.relative_to(path.parent)))
    lam = server.client("lambda")
    resp = lam.publish_layer_version(
        LayerName="powertools", Content={"ZipFile": buf.getvalue()}, CompatibleRuntimes=["python3.11"]
    )
    return str(resp["LayerVersionArn"])


def test_powertools_logger_metrics_and_event_classes(
    lam: Any, server: Any, create_function: Any, fn_name: str, powertools_layer: str
) -> None:
    create_function(fn_name, {"app.py": FUNCTION}, Layers=[powertools_layer], MemorySize=256, Timeout=30)
    resp = lam.invoke(FunctionName=fn_name, Payload=json.dumps(API_EVENT))
    assert "FunctionError" not in resp, resp["Payload"].read()
    out = json.load(resp["Payload"])
    assert out["statusCode"] == 200
    assert json.loads(out["body"]) == {"method": "POST", "id": "42", "user": "ada"}
    request_id = resp["ResponseMetadata"]["RequestId"]

    logs = server.client("logs")
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]]
    records = []
    for line in messages:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    logged = [r for r in records if r.get("message") == "order received"]
    assert logged, messages
    assert logged[0]["level"] == "INFO"
    assert logged[0]["service"] == "orders"
    assert logged[0]["function_request_id"] == request_id
    assert logged[0]["function_name"] == fn_name
    assert logged[0]["cold_start"] is True
    assert logged[0]["path"] == "/orders"
    emf = [r for r in records if "_aws" in r]
    assert emf, messages
    assert emf[0]["Orders"] == [1.0] or emf[0]["Orders"] == 1.0
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Nimbus"

    again = lam.invoke(FunctionName=fn_name, Payload=json.dumps(API_EVENT))
    assert json.load(again["Payload"])["statusCode"] == 200
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn_name}")["events"]]
    warm = [json.loads(m) for m in messages if '"order received"' in m]
    assert [r["cold_start"] for r in warm] == [True, False]
