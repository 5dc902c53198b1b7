"""A function's execution role, as CreateFunction and UpdateFunctionConfiguration check it: a role that exists must
trust `lambda.amazonaws.com` (its trust policy, evaluated as STS would for Lambda's AssumeRole), else
InvalidParameterValueException "The role defined for the function cannot be assumed by Lambda.", as Lambda answers.

A role ARN that names no role is accepted, so that scripts written for local emulators (which take any ARN) keep
working: that function's credentials can then do nothing beyond writing its own logs. The server logs a warning
once per function and role, and `nimbus doctor` lists such functions.
"""

from __future__ import annotations

import logging

from nimbus.control import policy_documents as documents
from nimbus.control.iam import Iam
from nimbus.errors import InvalidParameterValue
from nimbus.protocol.policy_eval import Caller, Request, evaluate_trust

log = logging.getLogger("nimbus.control")

LAMBDA_SERVICE = "lambda.amazonaws.com"
CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


class ExecutionRoles:
    def __init__(self, iam: Iam | None, account: str) -> None:
        """`iam` None: there are no roles (every ARN names none)."""
        self.iam = iam
        self.lambda_service = Caller("", account, service=LAMBDA_SERVICE)
        self._warned: set[tuple[str, str]] = set()

    def check(self, function: str, role_arn: str) -> None:
        """Refuse a role Lambda could not assume; accept (with a warning) an ARN that names no role."""
        role = self.iam.role_by_arn(role_arn) if self.iam is not None else None
        if role is None:
            if (function, role_arn) not in self._warned:
                self._warned.add((function, role_arn))
                log.warning(
                    "function %s: its role %s names no role; accepted (as local emulators do), but its credentials "
                    "can do nothing beyond writing its own logs (create the role, or see `nimbus doctor`)",
                    function, role_arn,
                )  # fmt: skip
            return
        request = Request("sts:AssumeRole", role_arn, self.lambda_service)
        if not evaluate_trust([], documents.parse(role.trust_policy), request).allowed:
            raise InvalidParameterValue(CANNOT_ASSUME)
