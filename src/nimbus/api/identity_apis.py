"""The IAM and STS APIs as the application serves them (query protocol, by credential scope): built once by
`server.run` over the key ring."""

from __future__ import annotations

from nimbus.api import errors as wire
from nimbus.api import iam_api, sts_api
from nimbus.api.app import QueryService
from nimbus.control.keyring import KeyRing


def identity_services(keys: KeyRing) -> list[QueryService]:
    """IAM (global: signed for the server's region or us-east-1) and STS (signed for the server's region)."""
    assert keys.iam is not None  # the server's ring is open_key_ring's, over IAM's store
    iam = iam_api.IamApi(keys.iam)
    sts = sts_api.StsApi(keys)
    return [
        QueryService(iam_api.SERVICE, "IAM", iam_api.BODY_MAX, iam.handle, wire.iam_xml,
                     regions=frozenset({iam_api.GLOBAL_REGION})),
        QueryService(sts_api.SERVICE, "STS", sts_api.BODY_MAX, sts.handle, wire.sts_xml),
    ]  # fmt: skip
