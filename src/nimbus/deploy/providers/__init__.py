"""The resource providers, one module per group of CloudFormation types, and the registry the engine asks:
`provider_for(type)` and `SUPPORTED_TYPES` (what a template may hold; anything else is refused before applying).
"""

from __future__ import annotations

from nimbus.deploy.provider import Provider
from nimbus.deploy.providers.apis import Apis
from nimbus.deploy.providers.common import Recorded
from nimbus.deploy.providers.events import Events
from nimbus.deploy.providers.function_links import FunctionLinks
from nimbus.deploy.providers.functions import Functions
from nimbus.deploy.providers.iam import IamProvider
from nimbus.deploy.providers.log_groups import LogGroups
from nimbus.deploy.providers.queues import Queues
from nimbus.deploy.providers.topics import Topics
from nimbus.deploy.providers.versions import Versions

PROVIDERS: tuple[Provider, ...] = (
    Functions(), Versions(), FunctionLinks(), Queues(), Topics(), Events(), Apis(), LogGroups(), IamProvider(),
    Recorded(),
)  # fmt: skip
_BY_TYPE: dict[str, Provider] = {t: p for p in PROVIDERS for t in p.types}
#: every type a stack can hold, sorted
SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(_BY_TYPE))


def provider_for(type_: str) -> Provider | None:
    """The provider of a CloudFormation type, or None when Nimbus cannot make it."""
    return _BY_TYPE.get(type_)


__all__ = ["PROVIDERS", "SUPPORTED_TYPES", "provider_for"]
