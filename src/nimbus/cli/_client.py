"""How the CLI reaches the server: boto3 clients with dev-credential fallback, one-line errors.

boto3 and botocore are imported inside the functions that use them: they cost more than half the CLI's start-up,
and `--help`, `serve`, `doctor`'s local half and the local commands never call the server
(tests/cli/test_cli_imports.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.text import Text

from nimbus.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY

DEFAULT_ENDPOINT = "http://127.0.0.1:9001"
DEFAULT_REGION = "us-east-1"
#: where the endpoint comes from when --endpoint-url is not given, first set wins: AWS_ENDPOINT_URL is what the
#: server's banner tells people to export for the AWS CLI and SDKs, and the nimbus CLI follows it too
ENDPOINT_VARIABLES = ("NIMBUS_ENDPOINT_URL", "AWS_ENDPOINT_URL")

#: tables and status go to stdout/stderr through rich; machine-readable output (JSON, payloads) is written raw
# piped output is not cut at 80 columns: tables size to their content, up to a generous width
out = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def check_endpoint(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """An endpoint boto3 accepts (`http(s)://host[:port]`), else one line saying what to write (exit 2): boto3's
    own refusal is a ValueError deep in client creation."""
    source = ctx.get_parameter_source(param.name or "")
    where = "--endpoint-url"
    if source is not None and source.name == "ENVIRONMENT":
        where = next(name for name in ENDPOINT_VARIABLES if os.environ.get(name))
    parts = urlsplit(value.strip()) if "://" in value else None
    if parts is None:
        fail(f"{where} {value!r} has no scheme: write http://{value.strip().lstrip('/')}", code=2)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{where} {value!r} is not an http(s) URL: write it as http://127.0.0.1:9001", code=2)
    return value.strip()


EndpointOpt = Annotated[
    str,
    typer.Option(
        "--endpoint-url", envvar=list(ENDPOINT_VARIABLES), help="Nimbus API endpoint.", show_envvar=True,
        metavar="URL", callback=check_endpoint,
    ),
]  # fmt: skip
RegionOpt = Annotated[
    str | None,
    typer.Option("--region", help="Region to sign for (default: AWS config, else us-east-1).", metavar="REGION"),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one red `error:` line to stderr and exit; never a traceback."""
    err.print(Text(f"error: {message}", style="red"))
    raise typer.Exit(code)


def key_values(items: list[str], what: str) -> dict[str, str]:
    """`KEY=VALUE` command-line items as a dict; anything else is a usage error naming the option (`what`)."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{what} expects KEY=VALUE, got {item!r}", code=2)
        pairs[key] = value
    return pairs


def string_attributes(items: list[str] | None, what: str) -> dict[str, dict[str, str]]:
    """`--attribute key=value` options as SQS/SNS MessageAttributes (every value a String), as `aws` sends them."""
    return {k: {"DataType": "String", "StringValue": v} for k, v in key_values(items or [], what).items()}


def _session(region: str | None) -> Any:
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    # The EC2 metadata probe costs seconds off EC2 and its role credentials are never Nimbus credentials.
    core.get_component("credential_provider").remove("iam-role")
    session = boto3.Session(botocore_session=core, region_name=region)
    if session.get_credentials() is None:
        session = boto3.Session(
            aws_access_key_id=DEV_ACCESS_KEY_ID,
            aws_secret_access_key=DEV_SECRET_ACCESS_KEY,
            botocore_session=core,
            region_name=region,
        )
    return session


def make_client(service: str, endpoint_url: str, region: str | None, read_timeout: float = 900) -> Any:
    """A boto3 client for `lambda` or `logs` : no retries, long reads (invokes run up to 15 min) unless told."""
    from botocore.config import Config

    session = _session(region)
    config = Config(retries={"max_attempts": 0}, read_timeout=read_timeout, connect_timeout=5)
    return session.client(
        service, endpoint_url=endpoint_url, region_name=session.region_name or DEFAULT_REGION, config=config
    )


def error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def api_errors(endpoint_url: str) -> Iterator[None]:
    """Turn every botocore failure into one `error:` line (exit 1)."""
    import botocore.exceptions as bx

    try:
        yield
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        fail(f"{error.get('Code') or 'Error'}: {error.get('Message') or exc}")
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError):
        fail(f"cannot reach Nimbus at {endpoint_url}: is 'nimbus serve' running?")
    except bx.ReadTimeoutError:
        fail(f"timed out waiting for Nimbus at {endpoint_url}")
    except bx.ConnectionClosedError:
        fail(f"Nimbus at {endpoint_url} closed the connection before answering")
    except bx.ParamValidationError as exc:
        fail(" ".join(str(exc).split()))
    except bx.BotoCoreError as exc:
        fail(str(exc))


def nimbus_get(endpoint_url: str, region: str | None, path: str) -> Any:
    """GET one of Nimbus's own signed routes (`/_nimbus/...`, SigV4 for `lambda`, as boto3 signs) and its JSON; a
    wire error is one `error:` line, as for boto3's calls."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = _session(region)
    url = endpoint_url.rstrip("/") + path
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(session.get_credentials(), "lambda", session.region_name or DEFAULT_REGION).add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers)), timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        kind = (exc.headers.get("x-amzn-ErrorType") or "Error").partition(":")[0]
        try:
            message = json.loads(exc.read()).get("Message", "")
        except ValueError:
            message = exc.reason
        fail(f"{kind}: {message}")
    except (urllib.error.URLError, OSError):
        fail(f"cannot reach Nimbus at {endpoint_url}: is 'nimbus serve' running?")
