"""One Settings object: CLI flags and NIMBUS_* environment variables map 1:1 onto its fields.

No other module reads the environment; the server builds a Settings once and passes it down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Well-known development credentials, used only when bound to loopback with nothing configured.
DEV_ACCESS_KEY_ID = "test"
DEV_SECRET_ACCESS_KEY = "test"


#: seconds an http(s) delivery (SNS to a subscribed endpoint) waits for its answer
HTTP_DELIVERY_TIMEOUT_S = 10


#: a service's name in AWS_ENDPOINT_URL_<SERVICE>, and an endpoint URL (scheme, host or [v6], port, path)
_SERVICE_NAME = re.compile(r"[A-Z0-9][A-Z0-9_]{0,63}")
_ENDPOINT_URL = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[!-~]*)?")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nimbus"


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a listener on this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9001
    data_dir: Path = field(default_factory=default_data_dir)
    access_key_id: str = ""
    secret_access_key: str = ""
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: client connections the API port holds at once; a new one past this is closed as soon as it is accepted
    max_connections: int = 1024
    #: MB of request bodies the API port holds at once, all connections together (past it: 503, which SDKs retry).
    #: 512: seven 70 MB CreateFunction bodies, or eighty 6 MB invoke payloads, at the same time
    max_buffered_mb: int = 512
    #: seconds a client has, from connecting or from a request's first byte, to send its request line and headers
    #: (a Slowloris client sending a byte at a time is closed then); SDKs send a head in one write
    header_timeout: float = 10.0
    #: seconds a request body may go without a byte arriving before the connection is closed
    body_timeout: float = 30.0
    #: seconds an idle instance is kept warm before it is stopped
    keep_alive: float = 300.0
    #: days log events are kept
    log_retention_days: float = 30.0
    #: bytes of output one invocation may log (UTF-8 + 256 per line, what a stored line costs); the rest is dropped
    #: behind a marker line (0: no limit). 6 MiB: Lambda's payload ceiling, far above a healthy invocation's logs
    log_invocation_bytes: int = 6 * 1024 * 1024
    #: bytes per second one function (log group) may log, all its instances together, in bursts of up to
    #: log_invocation_bytes (0: no limit)
    log_function_bytes_per_s: int = 1024 * 1024
    #: MB kept free on the data dir's file system: below it function output is not logged, below half of it no
    #: log line is (0: off), so a noisy function cannot take the disk the control database and code need
    log_disk_reserve_mb: int = 512
    #: run python3.x and nodejsNN.x runtimes the host lacks on the nearest version of the language it has (installed
    #: ones count); without it CreateFunction refuses them. Warned on every cold start
    runtime_fallback: bool = False
    #: run functions whose Architectures the host cannot run (arm64 on x86_64) on the host's own architecture
    #: (warned on every cold start) instead of refusing them; native code built for the other one will not load
    architecture_fallback: bool = False
    #: account-wide concurrent executions
    concurrency_limit: int = 1000
    #: sandboxes kept set up (no function yet) per Python zygote, taken by cold starts
    spare_instances: int = 2
    #: busy-poll for a lone invocation's reply (server) and next invoke (runtime) instead of sleeping at once
    busy_poll: bool = True
    #: MB of MemorySize that may run at once (0: three quarters of the host's memory)
    memory_budget_mb: int = 0
    #: what holds instances' memory and pids limits: "auto" (cgroups where this host lets the server write them,
    #: else rlimits inside each sandbox), "cgroup" (refuse to start without), "rlimit" (never cgroups; how CI proves
    #: the non-root path as root). `nimbus doctor` shows what each gives here
    limits_mechanism: str = "auto"
    #: seconds between sweeps that delete code (unpacked trees, zips) no function, version or layer references and
    #: no instance runs from; a tree goes at the second sweep that finds it unused (0: only at start-up). 60: replaced
    #: code is gone within two minutes, for a listing of the code dir every minute
    code_gc_interval: float = 60.0
    #: write a JSON readiness record {"port": N, "url": ...} here once the server listens
    ready_file: Path | None = None
    #: port of the Prometheus /metrics listener (None: off; 0 picks a free one)
    metrics_port: int | None = None
    #: bearer token /metrics requires (`Authorization: Bearer <token>`); empty: unauthenticated, WARNING at start-up
    metrics_token: str = ""
    #: interface the metrics listener binds (a WARNING at start-up when it is not loopback)
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    #: invocations asynchronous events may run at once, their share of concurrency_limit so that a flood of events
    #: never takes the slots synchronous callers need (0: half of concurrency_limit)
    async_concurrency: int = 0
    #: seconds before an event's 2nd, 3rd... attempt after a function error, comma-separated (Lambda: about 1 min,
    #: then 2 min); tests run with e.g. "0.2,0.2"
    async_retry_delays: str = "60,120"
    #: seconds a dispatched event stays hidden in the queue, renewed every third of it while a function with a longer
    #: timeout runs: an event running when the server dies runs again at most this long after a restart
    async_visibility: float = 60.0
    #: first and longest backoff, in seconds, of a throttled event before it is tried again (Lambda: 1 s to 5 min)
    async_throttle_delay: float = 1.0
    async_throttle_max_delay: float = 300.0
    #: seconds before each retry of a failed EventBridge/Scheduler/SNS delivery, comma-separated, the last one
    #: repeating within the target's retry policy (EventBridge backs off exponentially); tests run with e.g. "0.2"
    delivery_retry_delays: str = "1,2,4,8,16,32,64,128,256,300"
    #: deliveries (to functions, queues, topics, http endpoints) made at once
    delivery_concurrency: int = 64
    #: seconds a delivery being made stays hidden in its queue: one being made when the server dies is made again
    #: this long after a restart. More than an http delivery's 10 s timeout
    delivery_visibility: float = 30.0
    #: base domain of function URLs and HTTP API endpoints (`<id>.lambda-url.<region>.<http_domain>`); under
    #: "localhost" they resolve to this machine with no DNS set-up. A deployment puts its own wildcard domain here
    #: and a TLS proxy in front
    http_domain: str = "localhost"
    #: scheme and port written into FunctionUrl and ApiEndpoint (port None: the port the server listens on; 0: none,
    #: for a proxy on the scheme's default port)
    http_scheme: str = "http"
    http_public_port: int | None = None
    #: days the console's per-minute function figures (its charts) are kept
    series_retention_days: float = 14.0
    #: hours a console sign-in lasts before the session cookie expires
    console_session_hours: float = 12.0
    #: endpoints of services Nimbus does not serve, given to functions as AWS_ENDPOINT_URL_<SERVICE>: comma-separated
    #: SERVICE=URL pairs (`--service-endpoint s3=http://127.0.0.1:9000`, repeatable); SERVICE is the SDKs' name of
    #: the variable's suffix (s3, dynamodb, secrets_manager), URL http(s)://host[:port][/path]
    service_endpoints: str = ""

    @property
    def dev_credentials(self) -> bool:
        return not self.access_key_id

    @property
    def credentials(self) -> dict[str, str]:
        if self.dev_credentials:
            return {DEV_ACCESS_KEY_ID: DEV_SECRET_ACCESS_KEY}
        return {self.access_key_id: self.secret_access_key}

    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse configurations that would be insecure or incoherent."""
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("set both NIMBUS_ACCESS_KEY_ID and NIMBUS_SECRET_ACCESS_KEY, or neither")
        if self.dev_credentials and not self.is_loopback():
            raise ValueError(
                f"refusing to listen on {self.host} with the well-known development credentials: "
                "set NIMBUS_ACCESS_KEY_ID and NIMBUS_SECRET_ACCESS_KEY (or --access-key-id/--secret-access-key)"
            )
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise ValueError("account id must be 12 digits")
        if min(self.log_invocation_bytes, self.log_function_bytes_per_s, self.log_disk_reserve_mb) < 0:
            raise ValueError("log limits cannot be negative (0 turns one off)")
        if self.limits_mechanism not in ("auto", "cgroup", "rlimit"):
            raise ValueError(f"limits_mechanism must be auto, cgroup or rlimit, not {self.limits_mechanism!r}")
        if self.max_buffered_mb < 67:
            raise ValueError("max_buffered_mb must be at least 67: one CreateFunction body (70,167,211 bytes)")
        if self.max_connections < 1 or self.header_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("max_connections, header_timeout and body_timeout must be positive")
        if self.async_concurrency < 0 or self.async_visibility <= 0 or not self.retry_delays_ok():
            raise ValueError("async_concurrency, async_visibility and async_retry_delays (e.g. 60,120) are invalid")
        if self.delivery_concurrency < 1 or not self._delays_ok() or not self.delivery_retry_delay_values:
            raise ValueError("delivery_concurrency must be positive and delivery_retry_delays seconds (e.g. 1,2,4)")
        if self.delivery_visibility <= HTTP_DELIVERY_TIMEOUT_S:
            raise ValueError(f"delivery_visibility must be more than an http delivery's {HTTP_DELIVERY_TIMEOUT_S} s")
        if self.http_scheme not in ("http", "https") or not self.http_domain.strip("."):
            raise ValueError("http_scheme must be http or https, and http_domain a domain name (e.g. localhost)")
        if self.code_gc_interval < 0:
            raise ValueError("code_gc_interval cannot be negative (0: collect code at start-up only)")
        if self.series_retention_days <= 0 or self.console_session_hours <= 0:
            raise ValueError("series_retention_days and console_session_hours must be positive")
        self.service_endpoint_env  # noqa: B018  (raises ValueError on a bad pair)

    @property
    def service_endpoint_env(self) -> dict[str, str]:
        """`service_endpoints` as the variables functions get ({"AWS_ENDPOINT_URL_S3": "http://..."}); ValueError
        names the first pair that is not SERVICE=http(s)://host[:port][/path]."""
        env: dict[str, str] = {}
        for pair in (p.strip() for p in self.service_endpoints.split(",")):
            if not pair:
                continue
            service, _, url = (part.strip() for part in pair.partition("="))
            name = service.upper().replace("-", "_")
            if not _SERVICE_NAME.fullmatch(name) or not _ENDPOINT_URL.fullmatch(url):
                raise ValueError(
                    f"service endpoint {pair!r} is not SERVICE=URL (e.g. s3=http://127.0.0.1:9000): SERVICE is "
                    "letters, digits and _ (the AWS_ENDPOINT_URL_<SERVICE> suffix), URL http(s)://host[:port][/path]"
                )
            env["AWS_ENDPOINT_URL_" + name] = url
        return env

    def retry_delays_ok(self) -> bool:
        try:
            return all(d >= 0 for d in self.async_retry_delay_values)
        except ValueError:
            return False

    def _delays_ok(self) -> bool:
        try:
            return all(d >= 0 for d in self.delivery_retry_delay_values)
        except ValueError:
            return False

    @property
    def delivery_retry_delay_values(self) -> tuple[float, ...]:
        return tuple(float(d) for d in self.delivery_retry_delays.split(",") if d.strip())

    @property
    def async_retry_delay_values(self) -> tuple[float, ...]:
        return tuple(float(d) for d in self.async_retry_delays.split(",") if d.strip())

    @property
    def async_share(self) -> int:
        """Invocations async dispatch may run at once."""
        return self.async_concurrency or max(1, self.concurrency_limit // 2)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "nimbus.db"

    @property
    def logs_db_path(self) -> Path:
        return self.data_dir / "logs.db"

    @property
    def queues_db_path(self) -> Path:
        return self.data_dir / "queues.db"

    @property
    def runtimes_dir(self) -> Path:
        """Where `nimbus runtime install` puts runtimes the host lacks (nodejs22.x/, nodejs24.x/)."""
        return self.data_dir / "runtimes"


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if "int" in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    if "Path" in kind:
        return Path(raw).expanduser()
    return raw


def from_env(env: Mapping[str, str], **overrides: Any) -> Settings:
    """Build Settings from NIMBUS_<FIELD> variables; explicit overrides (CLI flags) win when not None."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = env.get("NIMBUS_" + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
