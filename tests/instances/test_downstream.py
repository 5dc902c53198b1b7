"""Instances' credentials and endpoints (`instances/downstream.py`) over the real key ring and real instances: a
session per instance, of its function's role, revoked when the instance ends, expired after 12 h, retired before
then; endpoints by network mode; secrets in no log line."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from instances.test_manager import ARN, ParkedClock, make_spec, request
from nimbus.clock import FakeClock
from nimbus.config import Settings
from nimbus.control.keyring import KeyRing, root_principal
from nimbus.instances import InstanceManager
from nimbus.instances.downstream import SESSION_S, TEMPLATE_EXPIRY_S, Downstream
from nimbus.instances.environment import RUNTIME_API_MOVED, RUNTIME_API_PRIVATE, launch_command
from nimbus.logs.sink import MemorySink
from nimbus.runtimes.registry import resolve_runtime

ROLE = "arn:aws:iam::000000000000:role/service-role/reader"
CREDS_APP = """
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_CREDENTIAL_EXPIRATION", "AWS_ENDPOINT_URL")}
"""


def key_ring(clock: FakeClock | None = None) -> KeyRing:
    return KeyRing(root_principal("AKIAROOT", "root-secret", "000000000000"), clock=clock)


def test_a_session_per_instance_of_its_functions_role_revoked_when_the_instance_ends(tmp_path: Path) -> None:
    code = _code(tmp_path)
    keys = key_ring()
    settings = Settings()
    downstream = Downstream(settings, keys)
    downstream.api_url = "http://127.0.0.1:9"
    spec = make_spec(code, role=ROLE)

    async def main() -> None:
        manager = InstanceManager(settings, MemorySink(), downstream=downstream)
        await manager.start()
        try:
            first = json.loads((await manager.invoke(spec, request(1))).payload)
            principal = keys.principal(first["AWS_ACCESS_KEY_ID"])
            assert principal is not None
            assert principal.arn == "arn:aws:sts::000000000000:assumed-role/reader/fn"
            assert (principal.role_arn, principal.source_function_arn) == (ROLE, ARN)
            assert (first["AWS_SECRET_ACCESS_KEY"], first["AWS_SESSION_TOKEN"]) == (
                principal.secret, principal.session_token)  # fmt: skip
            assert first["AWS_CREDENTIAL_EXPIRATION"] is None  # as on Lambda: plain environment credentials
            assert first["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
            # two at once: two instances, two sessions
            both = await asyncio.gather(manager.invoke(spec, request(2, b'{"n": 2}')),
                                        manager.invoke(spec, request(3, b'{"n": 3}')))  # fmt: skip
            seen = {json.loads(r.payload)["AWS_ACCESS_KEY_ID"] for r in both}
            assert len(seen) == 2
            assert keys.sessions() == 2
        finally:
            await manager.stop()
        assert keys.sessions() == 0  # the server stopping ends every instance, and so every session
        assert keys.principal(first["AWS_ACCESS_KEY_ID"]) is None

    asyncio.run(main())


def test_an_idle_instance_is_retired_before_its_session_runs_out(tmp_path: Path) -> None:
    code = _code(tmp_path)
    # the key ring's clock is far behind the wall clock: every session it mints has less than the margin left
    keys = key_ring(FakeClock())
    clock = ParkedClock()
    spec = make_spec(code, role=ROLE)

    async def main() -> None:
        manager = InstanceManager(Settings(keep_alive=3600), MemorySink(), clock=clock,
                                  downstream=Downstream(Settings(), keys))  # fmt: skip
        await manager.start()
        try:
            out = json.loads((await manager.invoke(spec, request(1))).payload)
            assert manager.statistics().instances == 1
            await manager.reap(clock.monotonic())  # well within keep-alive: only its session's end retires it
            assert manager.statistics().instances == 0
            assert keys.principal(out["AWS_ACCESS_KEY_ID"]) is None
            again = json.loads((await manager.invoke(spec, request(2))).payload)
            assert again["AWS_ACCESS_KEY_ID"] != out["AWS_ACCESS_KEY_ID"]
        finally:
            await manager.stop()

    asyncio.run(main())


def test_a_session_expires_after_12_hours_and_is_then_refused_as_expired() -> None:
    clock = FakeClock()
    keys = key_ring(clock)
    session = Downstream(Settings(), keys).mint(make_spec(Path("/nonexistent"), role=ROLE))
    assert session is not None
    assert keys.get(session.access_key_id) == session.env["AWS_SECRET_ACCESS_KEY"]
    clock.advance(SESSION_S - 1)
    assert keys.get(session.access_key_id) is not None  # at the limit: still good
    clock.advance(1)
    assert keys.get(session.access_key_id) is None  # one past it: refused, and known as expired
    assert keys.expired(session.access_key_id)


def test_revoked_and_its_listener_stopped_when_its_process_ends() -> None:
    keys = key_ring()
    downstream = Downstream(Settings(), keys)
    session = downstream.mint(make_spec(Path("/nonexistent"), role=ROLE))
    assert session is not None
    stopped: list[bool] = []

    async def main() -> None:
        exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        downstream.watch(exited, session, lambda: stopped.append(True))
        await asyncio.sleep(0)
        assert keys.principal(session.access_key_id) is not None  # alive: accepted
        exited.set_result(9)  # killed (a timeout, a crash, a stop: every end is the process's)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert keys.principal(session.access_key_id) is None
    assert (downstream.revoked, stopped) == (1, [True])


def test_a_snapstart_template_session_is_short_so_restored_sdks_reread_the_environment() -> None:
    clock = FakeClock()
    downstream = Downstream(Settings(), key_ring(clock))
    spec = make_spec(Path("/nonexistent"), role=ROLE, snap_start=True, version="1")
    template = downstream.mint(spec, template=True)
    restored = downstream.mint(spec)
    assert template is not None
    assert restored is not None
    expiry = template.env["AWS_CREDENTIAL_EXPIRATION"]
    assert expiry == _iso(clock.time() + TEMPLATE_EXPIRY_S)
    assert restored.env["AWS_CREDENTIAL_EXPIRATION"] == _iso(clock.time() + SESSION_S)


def test_endpoints_by_network_mode_and_operator_services() -> None:
    downstream = Downstream(Settings(service_endpoints="s3=http://127.0.0.1:9000"))
    downstream.api_url, downstream.api_port = "http://192.0.2.7:4566", 4566  # bound to an address of the host's
    host = make_spec(Path("/nonexistent"))
    private = make_spec(Path("/nonexistent"), network="none")
    assert downstream.endpoint_env(host, sandboxed=True) == {
        "AWS_ENDPOINT_URL": "http://192.0.2.7:4566", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}  # fmt: skip
    assert not downstream.private_api(private, sandboxed=True)  # nothing serves a sandbox's listener yet

    async def serve(listener: Any) -> Any:
        return lambda: None

    downstream.serve_listener = serve
    assert downstream.private_api(private, sandboxed=True)
    assert downstream.endpoint_env(private, sandboxed=True)["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert not downstream.private_api(private, sandboxed=False)  # unsandboxed: the host's network, whatever it says
    assert downstream.endpoint_env(private, sandboxed=False)["AWS_ENDPOINT_URL"] == "http://192.0.2.7:4566"
    assert downstream.mint(host) is None  # no key ring: no credentials


def test_secrets_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    downstream = Downstream(Settings(), key_ring())
    session = downstream.mint(make_spec(Path("/nonexistent"), role=ROLE))
    assert session is not None
    downstream.revoke(session)
    assert session.access_key_id in caplog.text  # key ids are logged (at debug), so the capture works
    assert session.env["AWS_SECRET_ACCESS_KEY"] not in caplog.text
    assert session.env["AWS_SESSION_TOKEN"] not in caplog.text


def _code(tmp_path: Path) -> Path:
    code = tmp_path / "code"  # tmp_path itself is 0700: the sandbox user could not enter it
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(CREDS_APP))
    return code


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def test_on_a_server_at_9001_a_custom_runtimes_private_runtime_api_moves_aside() -> None:
    runtime = resolve_runtime("provided.al2023", False)
    spec = make_spec(Path("/nonexistent"), runtime="provided.al2023", handler="function.handler", network="none")
    moved = launch_command(spec, runtime, "g", "s", sandboxed=True, api_listener=9001)
    assert moved.sandbox is not None
    assert moved.sandbox.api_listener == 9001
    assert RUNTIME_API_MOVED in moved.argv
    assert RUNTIME_API_PRIVATE not in moved.argv
    kept = launch_command(spec, runtime, "g", "s", sandboxed=True, api_listener=4566)
    assert RUNTIME_API_PRIVATE in kept.argv  # any other port: the Runtime API stays where Lambda's RIE has it
