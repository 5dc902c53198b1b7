"""Alias rules: names, routing-config validation, and the weighted choice."""

from __future__ import annotations

import random

import pytest

from nimbus.control import aliases
from nimbus.errors import InvalidParameterValue, ValidationError

EXISTS = {"1", "2", "3"}.__contains__


@pytest.mark.parametrize("name", ["live", "a", "blue-green_2", "x" * 128])
def test_good_alias_names(name: str) -> None:
    assert aliases.alias_name(name) == name


@pytest.mark.parametrize("name", ["12", "", "x" * 129, "bad name", "$LATEST", None])
def test_bad_alias_names(name: object) -> None:
    with pytest.raises(ValidationError):  # the model's Alias pattern refuses them all, all-digit names too
        aliases.alias_name(name)


def test_routing_config_shapes() -> None:
    assert aliases.routing_config(None, "1", EXISTS) is None
    assert aliases.routing_config({"AdditionalVersionWeights": {}}, "1", EXISTS) is None
    assert aliases.routing_config({"AdditionalVersionWeights": {"2": 0.25}}, "1", EXISTS) == {
        "AdditionalVersionWeights": {"2": 0.25}
    }
    assert aliases.routing_config({"AdditionalVersionWeights": {"2": 1}}, "1", EXISTS) == {
        "AdditionalVersionWeights": {"2": 1.0}
    }


@pytest.mark.parametrize(
    ("weights", "primary"),
    [
        ({"2": 1.5}, "1"),
        ({"2": -0.1}, "1"),
        ({"2": "0.5"}, "1"),
        ({"2": 0.5, "3": 0.1}, "1"),
        ({"2": 0.5}, "$LATEST"),
        ({"1": 0.5}, "1"),
        ({"9": 0.5}, "1"),
        ({"$LATEST": 0.5}, "1"),
    ],
)
def test_bad_routing_configs(weights: dict[str, object], primary: str) -> None:
    with pytest.raises(InvalidParameterValue):
        aliases.routing_config({"AdditionalVersionWeights": weights}, primary, EXISTS)


def test_choose_version_follows_the_weight() -> None:
    routing = {"AdditionalVersionWeights": {"2": 0.3}}
    assert aliases.choose_version("1", routing, roll=lambda: 0.29) == "2"
    assert aliases.choose_version("1", routing, roll=lambda: 0.3) == "1"
    assert aliases.choose_version("1", None) == "1"
    rng = random.Random(7)
    picks = [aliases.choose_version("1", routing, roll=rng.random) for _ in range(20_000)]
    share = picks.count("2") / len(picks)
    assert 0.28 < share < 0.32


def test_referenced_versions() -> None:
    cfg = {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}
    assert aliases.referenced_versions(cfg) == {"1", "2"}
    assert aliases.referenced_versions({"FunctionVersion": "$LATEST"}) == {"$LATEST"}
