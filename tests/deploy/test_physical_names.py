"""CloudFormation's generated physical names: `<stack>-<LogicalId>-<SUFFIX>`, fitted to the type's limit."""

from __future__ import annotations

import re

from nimbus.deploy.provider import NAME_SUFFIX_LENGTH, physical_name


def test_name_has_stack_logical_id_and_a_13_character_upper_case_suffix() -> None:
    name = physical_name("shop", "OrdersFunction", "seed-1")
    assert re.fullmatch(r"shop-OrdersFunction-[A-Z0-9]{13}", name)


def test_same_seed_same_name_new_seed_new_name() -> None:
    assert physical_name("shop", "Fn", "a") == physical_name("shop", "Fn", "a")
    assert physical_name("shop", "Fn", "a") != physical_name("shop", "Fn", "b")


def test_cut_to_the_limit_keeping_the_whole_suffix() -> None:
    fits = physical_name("s" * 30, "L" * 19, "x", max_length=64)  # 30 + 1 + 19 + 1 + 13 = 64: nothing cut
    assert fits.startswith("s" * 30 + "-" + "L" * 19 + "-")
    assert len(fits) == 64
    long = physical_name("s" * 60, "L" * 60, "x", max_length=64)
    assert len(long) == 64
    assert long.startswith("s" * 50)
    assert long[-NAME_SUFFIX_LENGTH - 1] == "-"
