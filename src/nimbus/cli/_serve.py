"""`nimbus serve`: build Settings from flags and NIMBUS_* variables, then run the server in this process."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Annotated

import typer

from nimbus.cli._client import fail
from nimbus.config import from_env


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.", show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind; 0 picks a free one.", show_default="9001")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Database, code and logs.", show_default="~/.local/share/nimbus")
    ] = None,
    access_key_id: Annotated[
        str | None, typer.Option(help="Accepted access key (default: dev key 'test', loopback only).")
    ] = None,
    secret_access_key: Annotated[str | None, typer.Option(help="Secret for --access-key-id.")] = None,
    region: Annotated[str | None, typer.Option(help="Region the API answers for.", show_default="us-east-1")] = None,
    account_id: Annotated[
        str | None, typer.Option(help="12-digit account id in ARNs.", show_default="000000000000")
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(help="Client connections held at once; past it new ones are closed.", show_default="1024"),
    ] = None,
    max_buffered_mb: Annotated[
        int | None,
        typer.Option(help="MB of request bodies held at once across connections (past it: 503).", show_default="512"),
    ] = None,
    header_timeout: Annotated[
        float | None, typer.Option(help="Seconds to send a request line and headers.", show_default="10")
    ] = None,
    body_timeout: Annotated[
        float | None, typer.Option(help="Seconds a request body may go without a byte.", show_default="30")
    ] = None,
    keep_alive: Annotated[
        float | None, typer.Option(help="Seconds an idle instance stays warm.", show_default="300")
    ] = None,
    log_retention_days: Annotated[
        float | None, typer.Option(help="Days log events are kept.", show_default="30")
    ] = None,
    log_invocation_bytes: Annotated[
        int | None,
        typer.Option(help="Bytes of output one invocation may log; the rest is dropped (0: no limit).",
                     show_default="6291456 (6 MiB)"),
    ] = None,
    log_function_bytes_per_s: Annotated[
        int | None,
        typer.Option(help="Bytes per second one function may log, its instances together (0: no limit).",
                     show_default="1048576 (1 MiB)"),
    ] = None,
    log_disk_reserve_mb: Annotated[
        int | None,
        typer.Option(help="MB kept free on the data dir's disk: below it function output is not logged (0: off).",
                     show_default="512"),
    ] = None,
    runtime_fallback: Annotated[
        bool | None,
        typer.Option(
            "--runtime-fallback/--no-runtime-fallback",
            help="Run python3.x and nodejsNN.x functions the host lacks on its nearest version (with a warning).",
            show_default="no",
        ),
    ] = None,
    architecture_fallback: Annotated[
        bool | None,
        typer.Option(
            "--architecture-fallback/--no-architecture-fallback",
            help="Run functions set to an architecture the host cannot run (arm64 on x86_64) on the host's own.",
            show_default="no",
        ),
    ] = None,
    concurrency_limit: Annotated[
        int | None, typer.Option(help="Account-wide concurrent executions.", show_default="1000")
    ] = None,
    memory_budget_mb: Annotated[
        int | None,
        typer.Option(help="MB of MemorySize that may run at once (0: 3/4 of host memory).", show_default="0"),
    ] = None,
    code_gc_interval: Annotated[
        float | None,
        typer.Option(help="Seconds between sweeps deleting unused code (0: at start-up only).", show_default="60"),
    ] = None,
    spare_instances: Annotated[
        int | None,
        typer.Option(help="Sandboxes kept set up per Python interpreter for cold starts (0: none).", show_default="2"),
    ] = None,
    busy_poll: Annotated[
        bool | None,
        typer.Option(
            "--busy-poll/--no-busy-poll",
            help="Poll for a lone invocation's reply instead of sleeping (lower latency, some CPU when idle).",
            show_default="yes",
        ),
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option(help='Write {"port", "url"} JSON here once listening.', show_default=False)
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics at /metrics on this port (see --metrics-token); 0 picks a free one.",
            show_default="off",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="Interface the metrics listener binds.", show_default="127.0.0.1")
    ] = None,
    metrics_token: Annotated[
        str | None,
        typer.Option(help="Bearer token GET /metrics must send (Authorization: Bearer <token>).", show_default="none"),
    ] = None,
    deploy: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            file_okay=False,
            help="Create or update every <DIR>/<name>/nimbus.json function at start.",
        ),
    ] = None,
    limits_mechanism: Annotated[
        str | None,
        typer.Option(
            help="What holds instances' memory and pids limits: auto (cgroups if writable, else rlimits), cgroup "
            "(refuse to start without) or rlimit.",
            show_default="auto",
        ),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.", show_default="info")] = None,
    async_concurrency: Annotated[
        int | None,
        typer.Option(help="Invocations asynchronous events may run at once (0: half of --concurrency-limit).",
                     show_default="0"),
    ] = None,
    async_retry_delays: Annotated[
        str | None,
        typer.Option(help="Seconds before each retry of a failed async event, comma-separated.", show_default="60,120"),
    ] = None,
    async_visibility: Annotated[
        float | None,
        typer.Option(help="Seconds a dispatched async event stays hidden (rerun this long after a crash).",
                     show_default="60"),
    ] = None,
    async_throttle_delay: Annotated[
        float | None, typer.Option(help="First backoff of a throttled async event, seconds.", show_default="1")
    ] = None,
    async_throttle_max_delay: Annotated[
        float | None, typer.Option(help="Longest backoff of a throttled async event, seconds.", show_default="300")
    ] = None,
    delivery_retry_delays: Annotated[
        str | None,
        typer.Option(help="Seconds before each retry of a failed EventBridge/Scheduler/SNS delivery, comma-separated "
                     "(the last repeats).", show_default="1,2,4,8,16,32,64,128,256,300"),
    ] = None,
    delivery_concurrency: Annotated[
        int | None, typer.Option(help="EventBridge/Scheduler/SNS deliveries made at once.", show_default="64")
    ] = None,
    delivery_visibility: Annotated[
        float | None,
        typer.Option(help="Seconds a delivery being made stays hidden (made again this long after a crash).",
                     show_default="30"),
    ] = None,
    http_domain: Annotated[
        str | None,
        typer.Option(help="Base domain of function URLs and HTTP APIs (<id>.lambda-url.<region>.<domain>).",
                     show_default="localhost"),
    ] = None,
    http_scheme: Annotated[
        str | None, typer.Option(help="Scheme written into FunctionUrl and ApiEndpoint (http or https).",
                                 show_default="http"),
    ] = None,
    http_public_port: Annotated[
        int | None,
        typer.Option(help="Port written into FunctionUrl and ApiEndpoint (0: none, behind a proxy).",
                     show_default="the listening port"),
    ] = None,
    series_retention_days: Annotated[
        float | None, typer.Option(help="Days the console's per-minute function figures are kept.", show_default="14")
    ] = None,
    console_session_hours: Annotated[
        float | None, typer.Option(help="Hours a console sign-in lasts.", show_default="12")
    ] = None,
    service_endpoint: Annotated[
        list[str] | None,
        typer.Option(help="SERVICE=URL: functions get AWS_ENDPOINT_URL_<SERVICE>=URL (e.g. s3=http://127.0.0.1:9000"
                     " for an S3-compatible store); repeatable.", show_default="none"),
    ] = None,
) -> None:
    """Run the Nimbus server in the foreground until SIGINT/SIGTERM (unset flags: NIMBUS_* variables)."""
    overrides = {
        "host": host,
        "port": port,
        "data_dir": data_dir.expanduser() if data_dir else None,
        "access_key_id": access_key_id,
        "secret_access_key": secret_access_key,
        "region": region,
        "account_id": account_id,
        "max_connections": max_connections,
        "max_buffered_mb": max_buffered_mb,
        "header_timeout": header_timeout,
        "body_timeout": body_timeout,
        "keep_alive": keep_alive,
        "log_retention_days": log_retention_days,
        "log_invocation_bytes": log_invocation_bytes,
        "log_function_bytes_per_s": log_function_bytes_per_s,
        "log_disk_reserve_mb": log_disk_reserve_mb,
        "runtime_fallback": runtime_fallback,
        "architecture_fallback": architecture_fallback,
        "concurrency_limit": concurrency_limit,
        "memory_budget_mb": memory_budget_mb,
        "code_gc_interval": code_gc_interval,
        "spare_instances": spare_instances,
        "busy_poll": busy_poll,
        "ready_file": ready_file.expanduser() if ready_file else None,
        "metrics_port": metrics_port,
        "metrics_host": metrics_host,
        "metrics_token": metrics_token,
        "limits_mechanism": limits_mechanism,
        "log_level": log_level.lower() if log_level else None,
        "async_concurrency": async_concurrency,
        "async_retry_delays": async_retry_delays,
        "async_visibility": async_visibility,
        "async_throttle_delay": async_throttle_delay,
        "async_throttle_max_delay": async_throttle_max_delay,
        "delivery_retry_delays": delivery_retry_delays,
        "delivery_concurrency": delivery_concurrency,
        "delivery_visibility": delivery_visibility,
        "http_domain": http_domain,
        "http_scheme": http_scheme,
        "http_public_port": http_public_port,
        "series_retention_days": series_retention_days,
        "console_session_hours": console_session_hours,
        "service_endpoints": ",".join(service_endpoint) if service_endpoint else None,
    }
    try:
        settings = from_env(os.environ, **overrides)
        settings.check()
    except ValueError as exc:
        fail(str(exc), code=2)

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot use the data dir {settings.data_dir}: {exc.strerror or exc}", code=2)
    from nimbus.server import serve as run_server  # imported late: client commands never load the server

    try:
        run_server(settings, deploy)
    except ValueError as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise  # the entry point prints it as one line
        fail(f"{settings.host}:{settings.port} is already in use (another nimbus serve?): stop it or pass --port")
    except KeyboardInterrupt:
        pass
