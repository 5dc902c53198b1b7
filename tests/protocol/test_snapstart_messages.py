"""SnapStart's fork messages (`protocol/frames.py`: FORK, FORKED, EXITED): frames on a template's control socket."""

from __future__ import annotations

import pytest

from nimbus.protocol import frames


def _through_the_wire(kind: str, header: dict[str, object]) -> frames.Frame:
    (frame,) = frames.FrameDecoder().feed(frames.encode(kind, header))
    return frame


def test_a_fork_round_trips_its_environment() -> None:
    frame = _through_the_wire(frames.FORK, frames.fork_header({"A": "1", "B": ""}))
    assert frame.kind == frames.FORK
    assert frames.fork_env(frame) == {"A": "1", "B": ""}
    assert frames.fork_env(_through_the_wire(frames.FORK, {})) == {}
    assert frames.fork_env(_through_the_wire(frames.FORK, {"env": {"A": 1, "B": "2"}})) == {"B": "2"}


def test_forked_and_exited_round_trip_as_template_events() -> None:
    forked = _through_the_wire(frames.FORKED, frames.forked_header(12))
    exited = _through_the_wire(frames.EXITED, frames.exited_header(12, 9))
    assert frames.template_event(forked) == frames.TemplateEvent(frames.FORKED, 12)
    assert frames.template_event(exited) == frames.TemplateEvent(frames.EXITED, 12, 9)


def test_the_kinds_stay_the_ones_the_bootstrap_speaks() -> None:
    assert (frames.FORK, frames.FORKED, frames.EXITED) == ("fork", "forked", "exited")
    assert frames.encode(frames.FORKED, frames.forked_header(3)).endswith(b'{"kind":"forked","pid":3}')


@pytest.mark.parametrize(
    ("kind", "header"),
    [(frames.FORKED, {}), (frames.FORKED, {"pid": "3"}), (frames.EXITED, {"pid": True}), (frames.READY, {"pid": 3})],
)
def test_anything_else_is_no_template_event(kind: str, header: dict[str, object]) -> None:
    assert frames.template_event(_through_the_wire(kind, header)) is None


def test_an_exit_without_a_numeric_status_counts_as_zero() -> None:
    frame = _through_the_wire(frames.EXITED, {"pid": 4, "status": "?"})
    assert frames.template_event(frame) == frames.TemplateEvent(frames.EXITED, 4, 0)
