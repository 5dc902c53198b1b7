"""What a function instance is given to reach downstream resources, as on Lambda: a session of its execution role
and the endpoints its SDK calls.

- Credentials: each instance gets a session of its function's role of its own (`KeyRing.mint_session`, named after
  the function, at most 12 h), in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. It is minted when
  the instance is launched (a spare gets it with its assignment, a zygote's fork with its command, a SnapStart
  restore in its FORK frame) and revoked the moment the instance's process ends, whichever way (`watch`): never
  shared with another instance or function. An instance is retired before its session runs out
  (`RENEW_MARGIN_S`). A SnapStart template's own session is revoked once its snapshot is taken: what init cached
  of it is refused after a restore, and the SDKs re-read the environment (AWS_CREDENTIAL_EXPIRATION, set short on
  the template), where the restored instance finds its own.
- Endpoints: AWS_ENDPOINT_URL is this server's API (set once it listens); `--service-endpoint` pairs become
  AWS_ENDPOINT_URL_<SERVICE>. A function's own variables of those names win: it may point its SDK elsewhere.
  A sandbox with no network (`nimbus:network` none) has its own loopback only: it makes a listening socket there,
  at the server's own port (`sandbox_init.py`: so the queue URLs and other addresses the API hands out work inside
  as outside), and passes it over its control socket; the server serves it as one of its own listeners until the
  instance ends (`serve_listener`, the HTTP server's). No proxy process, no extra hop.

Secrets never reach a log line: only key ids are logged, and only at debug level.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nimbus.config import Settings
from nimbus.control.identity import KeyRing
from nimbus.protocol.records import FunctionSpec

log = logging.getLogger(__name__)

#: an instance's session lasts as long as Lambda's longest (12 h); it is retired before the end
SESSION_S = 12 * 3600
#: an idle instance whose session has less than this left is retired (more than the longest invocation, 15 min)
RENEW_MARGIN_S = 30 * 60
#: a SnapStart template's AWS_CREDENTIAL_EXPIRATION: near enough that the SDKs re-read the environment on every
#: use (they refresh within 10-15 min of expiry), far enough that none ever sees it expired during init
TEMPLATE_EXPIRY_S = 5 * 60
#: serves a listening socket as the API (the HTTP server's `adopt_listener`); what it returns stops that
ServeListener = Callable[[socket.socket], Awaitable[Callable[[], None]]]


@dataclass(frozen=True, slots=True)
class Session:
    """One instance's credentials: the variables it gets, and what revokes them."""

    access_key_id: str
    env: dict[str, str]
    expires_at: float


class Downstream:
    """Mints and revokes instances' sessions (with the server's key ring; without one, instances get none) and
    says which endpoints they are given."""

    def __init__(self, settings: Settings, keyring: KeyRing | None = None) -> None:
        self.keyring = keyring
        #: this server's API as a local client reaches it; set by the server once it listens ("" until then)
        self.api_url = ""
        #: the port it listens on: where a sandbox with no network makes its own listener
        self.api_port = 0
        #: how a sandbox's own listening socket is served (set by the server; None: functions with no network get
        #: no API)
        self.serve_listener: ServeListener | None = None
        self._services = settings.service_endpoint_env
        self.minted = 0
        self.revoked = 0

    def private_api(self, spec: FunctionSpec, sandboxed: bool) -> bool:
        """Whether `spec`'s instances reach the API through a listening socket of their own network namespace."""
        return spec.network == "none" and sandboxed and self.serve_listener is not None and self.api_port > 0

    def endpoint_env(self, spec: FunctionSpec, sandboxed: bool) -> dict[str, str]:
        """AWS_ENDPOINT_URL (reachable from where the instance runs) and the operator's service endpoints."""
        env = dict(self._services)
        if self.private_api(spec, sandboxed):
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.api_port}"
        elif self.api_url:
            env["AWS_ENDPOINT_URL"] = self.api_url
        return env

    def mint(self, spec: FunctionSpec, template: bool = False) -> Session | None:
        """A new session of `spec`'s role for one instance (None without a key ring)."""
        if self.keyring is None:
            return None
        principal = self.keyring.mint_session(spec.role, spec.name, SESSION_S, source_function_arn=spec.arn)
        self.minted += 1
        env = {
            "AWS_ACCESS_KEY_ID": principal.access_key_id,
            "AWS_SECRET_ACCESS_KEY": principal.secret,
            "AWS_SESSION_TOKEN": principal.session_token,
        }
        expires_at = principal.expires_at or time.time() + SESSION_S
        if template:  # minted SESSION_S before its end: a few minutes after now
            env["AWS_CREDENTIAL_EXPIRATION"] = _iso(expires_at - SESSION_S + TEMPLATE_EXPIRY_S)
        elif spec.snap_start:  # a restored instance: what the SDKs refresh to from the template's short expiry
            env["AWS_CREDENTIAL_EXPIRATION"] = _iso(expires_at)
        log.debug("minted session %s for an instance of %s", principal.access_key_id, spec.name)
        return Session(principal.access_key_id, env, expires_at)

    def revoke(self, session: Session | None) -> None:
        if session is None or self.keyring is None:
            return
        self.keyring.revoke(session.access_key_id)
        self.revoked += 1
        log.debug("revoked session %s", session.access_key_id)

    async def adopt_listener(self, control: socket.socket, timeout_s: float) -> Callable[[], None] | None:
        """Take the API listening socket a sandbox with no network sends first on its control socket, and serve
        it; what stops serving it. None when the sandbox ended (or broke) before sending one: its init fails."""
        assert self.serve_listener is not None
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(control.fileno(), on_readable)
        try:
            async with asyncio.timeout(timeout_s):
                await readable
        except TimeoutError:
            return None
        finally:
            loop.remove_reader(control.fileno())
        try:
            message, fds, _, _ = socket.recv_fds(control, 1, 1)
        except (BlockingIOError, OSError):
            return None
        if message != b"L" or len(fds) != 1:
            for fd in fds:
                with contextlib.suppress(OSError):
                    socket.close(fd)
            return None
        listener = socket.socket(fileno=fds[0])
        if listener.family != socket.AF_INET or listener.type != socket.SOCK_STREAM:
            listener.close()
            return None
        return await self.serve_listener(listener)

    def watch(
        self, exited: asyncio.Future[int], session: Session | None, stop_listener: Callable[[], None] | None = None
    ) -> None:
        """Revoke `session` (and stop serving the instance's API listener) when the instance's process has ended,
        whichever way (`exited`: its handle's). A callback on the exit, not a lifecycle listener: the warm path's
        IDLE/BUSY changes call nothing of this."""
        if session is None and stop_listener is None:
            return

        def ended(_: asyncio.Future[int]) -> None:
            self.revoke(session)
            if stop_listener is not None:
                stop_listener()

        exited.add_done_callback(ended)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
