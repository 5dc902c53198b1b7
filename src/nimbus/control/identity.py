"""Who signed a request: the contract between the key ring (IAM's store of users' keys and the sessions STS and
instances are given), SigV4 (which needs a key's secret before it reads a body) and authorization (which needs the
caller's ARN and policies after).

Three kinds of caller, as on AWS:
- the account's root: the key pair the server was started with (admin: no policy is asked for it);
- an IAM user: a long-term key made by CreateAccessKey;
- an assumed role: a session (access key, secret and session token) made by STS AssumeRole or minted for a function
  instance from its execution role, valid until it expires or is revoked (an instance's, when the instance ends).

Policies are versioned: `KeyRing.policy_version()` changes whenever any identity policy, trust policy or key
changes, so that decisions can be cached per (access key, policy version) and the warm path asks no store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ROOT: Literal["root"] = "root"
USER: Literal["user"] = "user"
ASSUMED_ROLE: Literal["assumed-role"] = "assumed-role"
PrincipalKind = Literal["root", "user", "assumed-role"]

#: a policy document as parsed JSON (Version, Statement, ...)
PolicyDocument = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Principal:
    """One access key and whom it stands for."""

    access_key_id: str
    #: never in a repr (a Principal may be logged): neither is the session token
    secret: str = field(repr=False)
    kind: PrincipalKind
    #: the caller's ARN as GetCallerIdentity gives it: `arn:aws:iam::<acct>:root`, `arn:aws:iam::<acct>:user/<n>`,
    #: `arn:aws:sts::<acct>:assumed-role/<role>/<session>`
    arn: str
    #: GetCallerIdentity's UserId: the account id (root), the user's AIDA id, `<role AROA id>:<session>`
    user_id: str
    account: str
    #: the user's or role's name ("" for root)
    name: str = ""
    #: the role's ARN for an assumed role (`arn:aws:iam::<acct>:role/<path><name>`), "" otherwise
    role_arn: str = ""
    #: what a request signed with a session key must carry as X-Amz-Security-Token ("" for long-term keys)
    session_token: str = field(default="", repr=False)
    #: epoch seconds after which the key is refused (0: never)
    expires_at: float = 0.0
    #: for a function instance's session: the function's ARN (the `lambda:SourceFunctionArn` condition key)
    source_function_arn: str = ""


class KeyRing(Protocol):
    """Every access key the server accepts. `get` is what SigV4's check asks (a secret by key id, as the
    `Mapping[str, str]` it takes): it must be a dict lookup on the warm path."""

    def get(self, access_key_id: str, default: str | None = None) -> str | None:
        """The key's secret, or `default` for a key that is unknown, revoked or expired."""

    def principal(self, access_key_id: str) -> Principal | None:
        """Whom a known, unexpired key stands for."""

    def expired(self, access_key_id: str) -> bool:
        """Whether the key is a session that expired (lately): its use is answered "expired", not "invalid"."""

    def identity_policies(self, principal: Principal) -> list[PolicyDocument]:
        """The identity-based policies in force for `principal` (inline and attached, of its user or role). Root has
        none: it is not evaluated. A session of a role that does not exist has none: it can do nothing."""

    def policy_version(self) -> int:
        """A number that changes whenever an identity policy, role, user or key changes (a cache key)."""

    def mint_session(
        self,
        role_arn: str,
        session_name: str,
        duration_s: int,
        *,
        source_function_arn: str = "",
    ) -> Principal:
        """A new session of `role_arn` (which need not exist: its session is then allowed nothing), valid for
        `duration_s` seconds unless revoked first."""

    def revoke(self, access_key_id: str) -> None:
        """Refuse this session key from now on (an instance that ended)."""
