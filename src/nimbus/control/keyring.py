"""The key ring: every access key the server accepts, and whom each stands for (`control/identity.KeyRing`).

- the root key (the pair the server was started with, or the development pair) is the account's root;
- users' Active access keys (IAM's, `control/iam.py`) are their users;
- sessions (STS AssumeRole; `mint_session` for function instances) are assumed roles, refused once expired or
  revoked.

SigV4 asks `get` for a secret at the end of every request's headers and the request's `Principal` follows: both are
one dict lookup and one time comparison, with no store access. The view of users' keys is rebuilt when IAM changes
(rare); sessions live in memory only, as an instance's credentials die with it (a restart ends every session).
An expired session is remembered for an hour, so that its use is answered "expired" rather than "invalid".
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine

from nimbus.clock import Clock, RealClock
from nimbus.config import Settings
from nimbus.control import policy_documents as documents
from nimbus.control.iam import Iam
from nimbus.control.iam_records import ROLE_ID, SESSION_KEY, Role, User, name_of_arn, new_id, new_secret
from nimbus.control.iam_store import IamStore
from nimbus.control.identity import ASSUMED_ROLE, ROOT, USER, PolicyDocument, Principal
from nimbus.control.secret_box import SecretBox

#: seconds an expired session is still known as such (its use answered ExpiredToken, then UnrecognizedClient)
EXPIRED_KEPT_S = 3600
#: sessions minted between two sweeps of the expired ones
_SWEEP_EVERY = 256


def root_principal(access_key_id: str, secret: str, account: str) -> Principal:
    return Principal(access_key_id, secret, ROOT, f"arn:aws:iam::{account}:root", account, account)


def session_arn(account: str, role_arn: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{name_of_arn(role_arn)}/{session_name}"


class KeyRing:
    """Implements `control.identity.KeyRing` over IAM's users and keys, plus the sessions it mints."""

    def __init__(self, root: Principal, iam: Iam | None = None, clock: Clock | None = None) -> None:
        """`iam` None: the root key and sessions only (no users, no roles: every session is allowed nothing)."""
        self.root = root
        self.iam = iam
        self.account = root.account
        self.clock: Clock = clock or RealClock()
        #: every known key (root, users' active keys, sessions, expired ones awhile): the one dict `get` asks
        self._keys: dict[str, Principal] = {}
        self._sessions: dict[str, Principal] = {}
        #: (kind, name) -> parsed documents in force, dropped on every IAM change
        self._policies: dict[tuple[str, str], list[PolicyDocument]] = {}
        self._minted = 0
        if iam is not None:
            iam.subscribe(self._rebuild)
        self._rebuild()

    def _rebuild(self) -> None:
        keys: dict[str, Principal] = {self.root.access_key_id: self.root}
        for key in self.iam.keys.values() if self.iam is not None else ():
            user = self.iam.users.get(key.user_name.lower()) if self.iam is not None else None
            if key.status == "Active" and user is not None:
                keys[key.access_key_id] = Principal(key.access_key_id, key.secret, USER, user.arn, user.user_id,
                                                    self.account, user.name)  # fmt: skip
        keys.update(self._sessions)
        self._keys = keys
        self._policies = {}

    # ---- what SigV4 and authorization ask, per request ----
    def get(self, access_key_id: str, default: str | None = None) -> str | None:
        p = self._keys.get(access_key_id)
        if p is None or (p.expires_at and p.expires_at <= self.clock.time()):
            return default
        return p.secret

    def principal(self, access_key_id: str) -> Principal | None:
        p = self._keys.get(access_key_id)
        if p is None or (p.expires_at and p.expires_at <= self.clock.time()):
            return None
        return p

    def expired(self, access_key_id: str) -> bool:
        """Whether the key is a session that has expired (not one that is unknown or revoked)."""
        p = self._sessions.get(access_key_id)
        return p is not None and p.expires_at <= self.clock.time()

    def identity_policies(self, principal: Principal) -> list[PolicyDocument]:
        if principal.kind == ROOT or self.iam is None:
            return []
        # a user's id, or a session's role id (its UserId is `<role id>:<session name>`): one entry per entity
        cache_key = (principal.kind, principal.user_id.partition(":")[0])
        found = self._policies.get(cache_key)
        if found is None:
            owner: Role | User | None
            # by id as well as name: a user or role deleted and made again under the same name is another entity,
            # whose policies a key or session of the old one does not get (as on AWS)
            if principal.kind == USER:
                user = self.iam.users.get(principal.name.lower())
                owner = user if user is not None and user.user_id == principal.user_id else None
            else:
                role = self.iam.role_by_arn(principal.role_arn)
                owner = role if role is not None and principal.user_id.startswith(role.role_id + ":") else None
            found = [] if owner is None else [documents.parse(d) for d in self.iam.policy_documents(owner)]
            self._policies[cache_key] = found
        return found

    def policy_version(self) -> int:
        return self.iam.version if self.iam is not None else 0

    # ---- sessions ----
    def mint_session(
        self, role_arn: str, session_name: str, duration_s: int, *, source_function_arn: str = ""
    ) -> Principal:
        role = self.iam.role_by_arn(role_arn) if self.iam is not None else None
        # a role that does not exist still gets a stable id (its session is allowed nothing)
        role_id = role.role_id if role else ROLE_ID + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
        now = self.clock.time()
        access_key_id = new_id(SESSION_KEY, 20)
        principal = Principal(
            access_key_id, new_secret(), ASSUMED_ROLE, session_arn(self.account, role_arn, session_name),
            f"{role_id}:{session_name}", self.account, name_of_arn(role_arn), role_arn,
            session_token=secrets.token_urlsafe(96), expires_at=now + duration_s,
            source_function_arn=source_function_arn,
        )  # fmt: skip
        self._sessions[access_key_id] = principal
        self._keys[access_key_id] = principal
        self._minted += 1
        if self._minted % _SWEEP_EVERY == 0:
            self._sweep(now)
        return principal

    def revoke(self, access_key_id: str) -> None:
        if self._sessions.pop(access_key_id, None) is not None:
            self._keys.pop(access_key_id, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, p in self._sessions.items() if p.expires_at + EXPIRED_KEPT_S <= now]:
            self.revoke(key)

    def sessions(self) -> int:
        """How many sessions are held (live, or expired within the hour)."""
        return len(self._sessions)


def open_key_ring(settings: Settings, engine: Engine) -> KeyRing:
    """The server's key ring: IAM's entities loaded from the store (secrets opened with the data dir's key), and
    the settings' root key."""
    iam = Iam(IamStore(engine, SecretBox.for_data_dir(settings.data_dir), settings.account_id), settings.account_id)
    iam.load()
    ((key, secret),) = settings.credentials.items()
    return KeyRing(root_principal(key, secret, settings.account_id), iam)
