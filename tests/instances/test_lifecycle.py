"""The instance state machine: the table is the truth, the funnel enforces it and tells listeners."""

from __future__ import annotations

import pytest

from nimbus.instances.lifecycle import (
    TRANSITIONS,
    DeathReason,
    IllegalTransition,
    InstanceState,
    Lifecycle,
    StateChange,
)

S = InstanceState


def test_table_covers_every_state_and_dead_is_terminal() -> None:
    assert set(TRANSITIONS) == set(InstanceState)
    assert TRANSITIONS[S.DEAD] == frozenset()
    for state in InstanceState:
        if state is not S.DEAD:
            assert S.DEAD in TRANSITIONS[state], f"{state} must be able to die"


def test_happy_path_and_listeners_see_every_change_in_order() -> None:
    seen: list[StateChange] = []
    life = Lifecycle()
    life.subscribe(seen.append)
    assert life.state is S.STARTING
    for new in (S.INITIALISING, S.IDLE, S.BUSY, S.IDLE, S.BUSY):
        life.change_state(new)
    life.change_state(S.DRAINING, DeathReason.RETIRED)
    life.change_state(S.DEAD)
    assert [(c.old, c.new) for c in seen] == [
        (S.STARTING, S.INITIALISING),
        (S.INITIALISING, S.IDLE),
        (S.IDLE, S.BUSY),
        (S.BUSY, S.IDLE),
        (S.IDLE, S.BUSY),
        (S.BUSY, S.DRAINING),
        (S.DRAINING, S.DEAD),
    ]
    assert seen[-1].reason is DeathReason.RETIRED
    assert life.death_reason is DeathReason.RETIRED


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), S.BUSY),
        ((), S.IDLE),
        ((S.INITIALISING,), S.BUSY),
        ((S.INITIALISING, S.IDLE), S.INITIALISING),
        ((S.INITIALISING, S.IDLE), S.STARTING),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(path: tuple[InstanceState, ...], illegal: InstanceState) -> None:
    life = Lifecycle()
    for state in path:
        life.change_state(state)
    before = life.state
    with pytest.raises(IllegalTransition):
        life.change_state(illegal)
    assert life.state is before


def test_every_edge_not_in_the_table_is_illegal() -> None:
    for old in InstanceState:
        for new in InstanceState:
            if new in TRANSITIONS[old]:
                continue
            life = Lifecycle()
            life._state = old  # white-box: place the machine in `old`
            with pytest.raises(IllegalTransition):
                life.change_state(new, DeathReason.EXIT)


def test_death_needs_a_reason_and_live_states_take_none() -> None:
    life = Lifecycle()
    with pytest.raises(IllegalTransition):
        life.change_state(S.DEAD)
    with pytest.raises(IllegalTransition):
        life.change_state(S.INITIALISING, DeathReason.EXIT)
    life.change_state(S.DEAD, DeathReason.INIT_ERROR)
    assert life.death_reason is DeathReason.INIT_ERROR
    with pytest.raises(IllegalTransition):
        life.change_state(S.DEAD, DeathReason.EXIT)


def test_first_reason_sticks_from_draining_to_dead() -> None:
    life = Lifecycle()
    life.change_state(S.INITIALISING)
    life.change_state(S.IDLE)
    life.change_state(S.BUSY)
    life.change_state(S.DRAINING, DeathReason.TIMEOUT)
    change = life.change_state(S.DEAD, DeathReason.EXIT)  # the kill's exit does not hide why we killed
    assert change.reason is DeathReason.TIMEOUT


def test_require_state() -> None:
    life = Lifecycle()
    life.require_state(S.STARTING, S.IDLE)
    with pytest.raises(IllegalTransition):
        life.require_state(S.BUSY)
