"""The instance state machine, written as data: states, the legal edges, death reasons, and one funnel.

    starting ──▶ initialising ──▶ idle ⇄ busy
        │              │            │      │
        └──────────────┴──▶ draining ◀─────┘ ──▶ dead
                       (and any live state ──▶ dead when the process dies on its own)

Listeners registered on a `Lifecycle` see every successful transition, in order, after it happened; the last
event an instance publishes is the one into DEAD, and it always carries a reason.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class InstanceState(enum.Enum):
    STARTING = "starting"  # process being launched
    INITIALISING = "initialising"  # process up, importing the handler
    IDLE = "idle"  # warm, in its pool's idle list
    BUSY = "busy"  # running exactly one invocation
    DRAINING = "draining"  # being stopped by us (TERM → grace → KILL)
    DEAD = "dead"  # reaped; terminal

    #: members are singletons compared by identity: hashed by it too, in C (Enum's own hashes the name in Python,
    #: and the warm path looks states up in TRANSITIONS and _PLAIN several times per invoke)
    __hash__ = object.__hash__


class DeathReason(enum.Enum):
    TIMEOUT = "timeout"  # killed at the invocation deadline
    EXIT = "exit"  # the process exited or crashed on its own
    INIT_ERROR = "init_error"  # the handler could not be loaded
    REAPED_IDLE = "reaped_idle"  # idle longer than keep-alive
    RETIRED = "retired"  # the function's code or configuration changed, or it was deleted
    SHUTDOWN = "shutdown"  # the server is stopping
    PROTOCOL_ERROR = "protocol_error"  # the instance broke the frame protocol (or overflowed it)
    EVICTED = "evicted"  # idle, and its slot was needed for another function


S = InstanceState

#: every legal edge; anything else is a bug of ours and raises
TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    S.STARTING: frozenset({S.INITIALISING, S.DRAINING, S.DEAD}),
    S.INITIALISING: frozenset({S.IDLE, S.DRAINING, S.DEAD}),
    S.IDLE: frozenset({S.BUSY, S.DRAINING, S.DEAD}),
    S.BUSY: frozenset({S.IDLE, S.DRAINING, S.DEAD}),
    S.DRAINING: frozenset({S.DEAD}),
    S.DEAD: frozenset(),
}

#: states in which the process is (meant to be) alive
LIVE_STATES = frozenset(s for s in InstanceState if s is not S.DEAD)


class IllegalTransition(Exception):
    """A transition not in TRANSITIONS was attempted: a platform bug, never a function error. (An Exception, not a
    RuntimeError: mypyc compiles this module, and a compiled class may subclass Exception but not RuntimeError.)"""


@dataclass(frozen=True)
class StateChange:
    old: InstanceState
    new: InstanceState
    reason: DeathReason | None


#: the event of each edge that carries no reason, made once (events are immutable): IDLE <-> BUSY is the warm path
_PLAIN: dict[tuple[InstanceState, InstanceState], StateChange] = {
    (old, new): StateChange(old, new, None)
    for old, targets in TRANSITIONS.items()
    for new in targets
    if new not in (S.DRAINING, S.DEAD)
}

Listener = Callable[[StateChange], None]


class Lifecycle:
    """One instance's state; `change_state` is the only way to move it."""

    def __init__(self) -> None:
        self._state = InstanceState.STARTING
        self._reason: DeathReason | None = None
        self._listeners: list[Listener] = []

    @property
    def state(self) -> InstanceState:
        return self._state

    @property
    def death_reason(self) -> DeathReason | None:
        """Why the instance is draining or dead (None while it is in service)."""
        return self._reason

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def can_change(self, new: InstanceState) -> bool:
        return new in TRANSITIONS[self._state]

    def require_state(self, *states: InstanceState) -> None:
        if self._state not in states:
            expected = ", ".join(s.value for s in states)
            raise IllegalTransition(f"instance is {self._state.value}, expected one of: {expected}")

    def change_state(self, new: InstanceState, reason: DeathReason | None = None) -> StateChange:
        """Move to `new`, or raise IllegalTransition. DRAINING and DEAD need a reason; the first one given sticks."""
        if new not in TRANSITIONS[self._state]:
            raise IllegalTransition(f"illegal instance transition {self._state.value} -> {new.value}")
        if new in (S.DRAINING, S.DEAD):
            reason = self._reason or reason  # the first reason given (at DRAINING) is the one recorded
            if reason is None:
                raise IllegalTransition(f"transition to {new.value} needs a reason")
            self._reason = reason
        elif reason is not None:
            raise IllegalTransition(f"transition to {new.value} takes no reason")
        # the warm path's IDLE <-> BUSY: one shared event per edge, no object per invocation
        change = _PLAIN[self._state, new] if reason is None else StateChange(self._state, new, self._reason)
        self._state = new
        for listener in self._listeners:
            listener(change)
        return change
