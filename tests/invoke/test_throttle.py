"""Admission control: account pool, reservations, memory budget; every slot is given back."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from nimbus.errors import TooManyRequests
from nimbus.invoke.throttle import Throttle


def test_account_limit_shared_by_unreserved_functions() -> None:
    t = Throttle(account_limit=3, memory_budget_mb=10_000)
    with ExitStack() as stack:
        for name in ("a", "b", "a"):
            stack.enter_context(t.admit(name, 128))
        with pytest.raises(TooManyRequests) as err:
            stack.enter_context(t.admit("c", 128))
        assert err.value.fields["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert t.statistics().in_flight == 0
    assert t.statistics().memory_mb == 0
    assert t.statistics().throttles == 1


def test_reservation_caps_the_function_and_leaves_the_rest() -> None:
    t = Throttle(account_limit=4, memory_budget_mb=10_000)
    t.set_reserved("r", 1)
    assert t.unreserved_limit == 3
    with t.admit("r", 128):
        with pytest.raises(TooManyRequests) as err, t.admit("r", 128):
            pass
        assert err.value.fields["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        with ExitStack() as stack:  # the reserved function does not eat the unreserved pool
            for _ in range(3):
                stack.enter_context(t.admit("other", 128))
            with pytest.raises(TooManyRequests), t.admit("other", 128):
                pass


def test_zero_reservation_throttles_everything() -> None:
    t = Throttle(account_limit=10, memory_budget_mb=10_000)
    t.set_reserved("off", 0)
    with pytest.raises(TooManyRequests), t.admit("off", 128):
        pass
    t.set_reserved("off", None)
    with t.admit("off", 128):
        assert t.running("off") == 1


def test_memory_budget() -> None:
    t = Throttle(account_limit=100, memory_budget_mb=300)
    with t.admit("a", 128), t.admit("b", 128):
        with pytest.raises(TooManyRequests), t.admit("c", 128):
            pass
        assert t.statistics().memory_mb == 256
    with t.admit("c", 300):
        pass


def test_reservation_changed_mid_flight_keeps_accounting_straight() -> None:
    t = Throttle(account_limit=2, memory_budget_mb=10_000)
    with t.admit("f", 128):
        t.set_reserved("f", 1)
    t.set_reserved("f", None)
    with t.admit("x", 1), t.admit("y", 1):
        pass
    assert t.statistics().in_flight == 0
