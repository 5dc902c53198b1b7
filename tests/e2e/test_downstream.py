"""What a function gets to reach downstream resources, through a real server: AWS_ENDPOINT_URL (this server), the
operator's `--service-endpoint` pairs, the region, and the AWS SDKs its runtime includes (boto3 and botocore for
Python, the AWS SDK for JavaScript v3 for Node.js), never imported before the function imports them, and never
winning over the function's own copy."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import NIMBUS, ROLE, Server, delete_functions, invoke_json, make_zip, node_sdk_runtime, serving

from nimbus.runtimes import sdk
from sandbox.support import needs_namespaces

S3_ENDPOINT = "http://127.0.0.1:9000"
#: the pins of the SDK the Python runtimes include
PINS = dict(line.split("==") for line in sdk.PYTHON_SDK_REQUIREMENTS.read_text().split() if "==" in line)

ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION",
            "AWS_DEFAULT_REGION")  # fmt: skip

PY_REPORT = f"""
import os, sys
AT_INIT = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))

def handler(event, context):
    import boto3, botocore
    return {{"env": {{k: os.environ.get(k) for k in {ENV_KEYS!r}}}, "at_init": AT_INIT,
            "boto3": boto3.__version__, "botocore": botocore.__version__, "boto3_file": boto3.__file__,
            "path": sys.path, "task_root": os.environ["LAMBDA_TASK_ROOT"]}}
"""


@pytest.fixture(scope="module")
def downstream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # no spares: Python instances here are forked by the zygote as they start (test_function_credentials's take
    # spares, and Node.js's are spawned), so each way a sandbox is made hands over its API listener in a test
    yield from serving(tmp_path_factory, "downstream", "--service-endpoint", f"s3={S3_ENDPOINT}", "--service-endpoint",
                       "dynamodb=https://ddb.example.test:8443/base", "--spare-instances", "0")  # fmt: skip


@pytest.fixture
def make_fn(downstream_server: Server) -> Iterator[Any]:
    lam = downstream_server.client("lambda")
    created: list[str] = []

    def _create(name: str, files: dict[str, str | bytes], **kwargs: Any) -> str:
        kwargs.setdefault("Runtime", "python3.11")
        kwargs.setdefault("Handler", "app.handler")
        lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": make_zip(files)}, **kwargs)
        created.append(name)
        return name

    yield _create
    delete_functions(lam, created)


def test_python_function_gets_the_endpoints_the_region_and_boto3_imported_only_on_demand(
    downstream_server: Server, make_fn: Any
) -> None:
    lam = downstream_server.client("lambda")
    name = make_fn("ds-python-env", {"app.py": PY_REPORT})
    _, out = invoke_json(lam, name)
    assert out["env"] == {
        "AWS_ENDPOINT_URL": downstream_server.endpoint,
        "AWS_ENDPOINT_URL_S3": S3_ENDPOINT,
        "AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.example.test:8443/base",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert out["at_init"] == []  # the runtime imports no SDK: cold starts do not pay for it
    assert (out["boto3"], out["botocore"]) == (PINS["boto3"], PINS["botocore"])
    sdk_dir = out["path"][-1]  # after /var/task, /opt/python and the standard library
    assert out["boto3_file"].startswith(sdk_dir + "/")
    assert out["path"][0] == out["task_root"]


def test_a_functions_own_boto3_and_endpoint_variables_win(downstream_server: Server, make_fn: Any) -> None:
    lam = downstream_server.client("lambda")
    own = {"app.py": PY_REPORT, "boto3/__init__.py": "__version__ = 'own'\n"}
    env = {"Variables": {"AWS_ENDPOINT_URL_S3": "http://minio.internal:9000"}}
    name = make_fn("ds-python-own", own, Environment=env)
    _, out = invoke_json(lam, name)
    assert out["boto3"] == "own"
    assert out["boto3_file"] == out["task_root"] + "/boto3/__init__.py"
    assert out["env"]["AWS_ENDPOINT_URL_S3"] == "http://minio.internal:9000"
    assert out["env"]["AWS_ENDPOINT_URL"] == downstream_server.endpoint


NO_NETWORK = """
import os, socket
import boto3

def handler(event, context):
    try:
        boto3.client("lambda").list_functions()
        answer = "allowed"
    except boto3.exceptions.botocore.exceptions.ClientError as e:
        answer = e.response["Error"]["Code"]
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1)
        outside = "reached"
    except OSError:
        outside = "unreachable"
    return {"endpoint": os.environ["AWS_ENDPOINT_URL"], "answer": answer, "outside": outside}
"""


@needs_namespaces
def test_a_function_with_no_network_reaches_the_api_through_its_own_loopback(downstream_server: Server,
                                                                             make_fn: Any) -> None:  # fmt: skip
    lam = downstream_server.client("lambda")
    name = make_fn("ds-no-network", {"app.py": NO_NETWORK}, Tags={"nimbus:network": "none"}, Timeout=10)
    _, out = invoke_json(lam, name)
    # the API answered (its role names no role: signed in, allowed nothing), and nothing else is reachable
    assert out == {"endpoint": f"http://127.0.0.1:{downstream_server.port}", "answer": "AccessDeniedException",
                   "outside": "unreachable"}  # fmt: skip


NODE_CJS = """
const before = Object.keys(require.cache).filter((p) => p.includes('@aws-sdk')).length;
exports.handler = async () => {
  const { SQSClient } = require('@aws-sdk/client-sqs');
  const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
  const { fromEnv } = require('@aws-sdk/credential-providers');
  const where = require.resolve('@aws-sdk/client-sqs');
  return { before, sqs: typeof SQSClient, doc: typeof DynamoDBDocumentClient, creds: typeof fromEnv, where,
           endpoint: process.env.AWS_ENDPOINT_URL, s3: process.env.AWS_ENDPOINT_URL_S3 };
};
"""
NODE_ESM = """
import { LambdaClient } from '@aws-sdk/client-lambda';
import { STSClient } from '@aws-sdk/client-sts';
export const handler = async () => ({ lambda: typeof LambdaClient, sts: typeof STSClient });
"""


def test_node_function_resolves_the_aws_sdk_v3_by_require_and_import(downstream_server: Server,
                                                                       make_fn: Any) -> None:  # fmt: skip
    runtime = node_sdk_runtime()
    lam = downstream_server.client("lambda")
    cjs = make_fn("ds-node-cjs", {"index.js": NODE_CJS}, Runtime=runtime, Handler="index.handler")
    _, out = invoke_json(lam, cjs)
    assert out["before"] == 0
    assert (out["sqs"], out["doc"], out["creds"]) == ("function", "function", "function")
    assert (out["endpoint"], out["s3"]) == (downstream_server.endpoint, S3_ENDPOINT)
    esm = make_fn("ds-node-esm", {"index.mjs": NODE_ESM}, Runtime=runtime, Handler="index.handler")
    _, out = invoke_json(lam, esm)
    assert out == {"lambda": "function", "sts": "function"}


def test_a_bad_service_endpoint_is_refused_at_start_up(tmp_path: Any) -> None:
    cmd = [*NIMBUS, "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--service-endpoint", "s3=ftp://h"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "service endpoint 's3=ftp://h' is not SERVICE=URL (e.g. s3=http://127.0.0.1:9000)" in proc.stderr
