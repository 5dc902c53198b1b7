"""What a function instance is given to reach downstream resources, as on Lambda: a session of its execution role
and the endpoints its SDK calls.

- Credentials: each instance gets a session of its function's role of its own (`KeyRing.mint_session`, named after
  the function, at most 12 h), in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. It is minted when
  the instance is launched (a spare gets it with its assignment, a zygote's fork with its command, a SnapStart
  restore in its FORK frame) and revoked the moment the instance leaves service, whichever way (`watch`): never
  shared with another instance or function. An instance is retired before its session runs out
  (`RENEW_MARGIN_S`). A SnapStart template's own session is revoked once its snapshot is taken: what init cached
  of it is refused after a restore, and the SDKs re-read the environment (AWS_CREDENTIAL_EXPIRATION, set short on
  the template), where the restored instance finds its own.
- Endpoints: AWS_ENDPOINT_URL is this server's API (set once it listens); `--service-endpoint` pairs become
  AWS_ENDPOINT_URL_<SERVICE>. A function's own variables of those names win: it may point its SDK elsewhere.

Secrets never reach a log line: only key ids are logged, and only at debug level.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from nimbus.config import Settings
from nimbus.control.identity import KeyRing
from nimbus.instances.lifecycle import InstanceState, Lifecycle, StateChange
from nimbus.protocol.records import FunctionSpec

log = logging.getLogger(__name__)

#: an instance's session lasts as long as Lambda's longest (12 h); it is retired before the end
SESSION_S = 12 * 3600
#: an idle instance whose session has less than this left is retired (more than the longest invocation, 15 min)
RENEW_MARGIN_S = 30 * 60
#: a SnapStart template's AWS_CREDENTIAL_EXPIRATION: near enough that the SDKs re-read the environment on every
#: use (they refresh within 10-15 min of expiry), far enough that none ever sees it expired during init
TEMPLATE_EXPIRY_S = 5 * 60
#: where a function in its own network namespace (`nimbus:network` none) reaches the API: served by the server
#: through a listening socket made inside that namespace (`sandbox_init.py`)
PRIVATE_API_ADDRESS = ("127.0.0.1", 9002)


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
        self._services = settings.service_endpoint_env
        self.minted = 0
        self.revoked = 0

    def endpoint_env(self, spec: FunctionSpec, sandboxed: bool) -> dict[str, str]:
        """AWS_ENDPOINT_URL (reachable from where the instance runs) and the operator's service endpoints."""
        env = dict(self._services)
        if spec.network == "none" and sandboxed:
            env["AWS_ENDPOINT_URL"] = "http://{}:{}".format(*PRIVATE_API_ADDRESS)
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

    def watch(self, lifecycle: Lifecycle, session: Session | None) -> None:
        """Revoke `session` when the instance of `lifecycle` leaves service (draining or dead, for any reason)."""
        if session is None:
            return
        done = [False]

        def on_change(change: StateChange) -> None:
            if not done[0] and change.new in (InstanceState.DRAINING, InstanceState.DEAD):
                done[0] = True
                self.revoke(session)

        lifecycle.subscribe(on_change)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
