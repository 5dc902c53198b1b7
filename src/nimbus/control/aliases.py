"""Alias rules, as pure functions: name checks, routing-config validation, and the weighted choice of a version."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from nimbus.errors import InvalidParameterValue, ValidationError

ALIAS_RE = re.compile(r"[a-zA-Z0-9_-]{1,128}")
VERSION_RE = re.compile(r"[0-9]+")


def alias_name(value: Any) -> str:
    """An alias name as the model's Alias shape takes it (the wire checks it first, with the same words)."""
    if not isinstance(value, str) or not ALIAS_RE.fullmatch(value) or VERSION_RE.fullmatch(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'name' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )
    return value


def routing_config(value: Any, primary: str, version_exists: Callable[[str], bool]) -> dict[str, Any] | None:
    """Validate RoutingConfig against the alias's primary version; None when it routes to one version only."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParameterValue("RoutingConfig must be an object with AdditionalVersionWeights.")
    weights = value.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        raise InvalidParameterValue("RoutingConfig.AdditionalVersionWeights must map a version to a weight.")
    if not weights:
        return None
    if len(weights) > 1:
        raise InvalidParameterValue("RoutingConfig.AdditionalVersionWeights can name one additional version only.")
    if primary == "$LATEST":
        raise InvalidParameterValue("$LATEST is not supported for an alias pointing to more than 1 version")
    ((version, weight),) = weights.items()
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise InvalidParameterValue(f"Additional version '{version}' must be a published version number.")
    if version == primary:
        raise InvalidParameterValue("The additional version must differ from the alias's FunctionVersion.")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= float(weight) <= 1.0:
        raise InvalidParameterValue(
            f"Invalid weight {weight!r} for version {version}: weights must be numbers between 0.0 and 1.0."
        )
    if not version_exists(version):
        raise InvalidParameterValue(f"Additional version {version} does not exist.")
    return {"AdditionalVersionWeights": {version: float(weight)}}


def choose_version(primary: str, routing: dict[str, Any] | None, roll: Callable[[], float] = random.random) -> str:
    """The version one invocation through the alias runs: the additional version with its weight's probability."""
    if routing:
        ((version, weight),) = routing["AdditionalVersionWeights"].items()
        if roll() < weight:
            return str(version)
    return primary


def referenced_versions(config: dict[str, Any]) -> set[str]:
    """Every version an alias's traffic can reach."""
    out = {config["FunctionVersion"]}
    out.update((config.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}))
    return out
