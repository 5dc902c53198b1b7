"""The IAM entities as the control plane holds them in memory (roles, users, managed policies, access keys), their
ARNs and ids as IAM makes them. Pure records: the rules are `control/iam.py`'s, the rows `control/iam_store.py`'s.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

#: the partition's managed policies' account ("aws"), as in `arn:aws:iam::aws:policy/ReadOnlyAccess`
AWS_ACCOUNT = "aws"
_ID_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits + "+/"

# id prefixes IAM uses: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-prefixes
ROLE_ID = "AROA"
USER_ID = "AIDA"
POLICY_ID = "ANPA"
ACCESS_KEY = "AKIA"
SESSION_KEY = "ASIA"


def new_id(prefix: str, length: int = 21) -> str:
    """A unique id as IAM makes them: a 4-letter prefix naming the kind, then upper-case letters and digits."""
    return prefix + _random_string(_ID_CHARS, length - len(prefix))


def new_secret() -> str:
    """A 40-character secret access key (240 bits of randomness)."""
    return _random_string(_SECRET_CHARS, 40)


def _random_string(alphabet: str, length: int) -> str:
    """`length` characters drawn uniformly from `alphabet`, from one draw of the OS's generator for them all (one
    per character costs ~1 µs each: every function cold start mints a session, an id and a secret)."""
    base = len(alphabet)
    n = secrets.randbelow(base**length)
    chars = []
    for _ in range(length):
        n, digit = divmod(n, base)
        chars.append(alphabet[digit])
    return "".join(chars)


def entity_arn(account: str, kind: str, path: str, name: str) -> str:
    """`arn:aws:iam::<account>:<kind><path><name>` (kind: role, user, policy; the path starts and ends with /)."""
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def name_of_arn(arn: str) -> str:
    """The name at the end of an IAM ARN (after its path)."""
    return arn.rsplit("/", 1)[-1]


@dataclass(slots=True)
class Role:
    name: str
    role_id: str
    path: str
    arn: str
    #: the trust policy as the caller sent it (text), and parsed
    trust_policy: str
    description: str
    max_session_s: int
    tags: dict[str, str]
    created: float
    #: inline policies by name: the documents as sent
    inline: dict[str, str] = field(default_factory=dict)
    #: attached managed policies' ARNs, in attachment order
    attached: list[str] = field(default_factory=list)


@dataclass(slots=True)
class User:
    name: str
    user_id: str
    path: str
    arn: str
    tags: dict[str, str]
    created: float
    inline: dict[str, str] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    #: its access keys' ids, oldest first
    keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PolicyVersion:
    version_id: str
    document: str
    created: float


@dataclass(slots=True)
class ManagedPolicy:
    arn: str
    name: str
    policy_id: str
    path: str
    description: str
    tags: dict[str, str]
    created: float
    default_version: str
    #: the number CreatePolicyVersion gives next (v1, v2, ...: never reused)
    next_version: int
    versions: dict[str, PolicyVersion] = field(default_factory=dict)
    #: one of AWS's managed policies (built in: never stored, changed or deleted)
    aws: bool = False

    @property
    def document(self) -> str:
        """The default version's document: the one in force."""
        return self.versions[self.default_version].document

    @property
    def updated(self) -> float:
        return self.versions[self.default_version].created


@dataclass(slots=True)
class AccessKey:
    access_key_id: str
    user_name: str
    #: the plaintext secret, in memory only (SigV4 signs with it); stored sealed (`control/secret_box.py`)
    secret: str = field(repr=False)
    status: str
    created: float
