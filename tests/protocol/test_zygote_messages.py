"""The zygote's socket messages (`protocol/zygote.py`): every message round-trips, and broken bytes are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nimbus.protocol import zygote as messages
from nimbus.protocol.zygote import Reply, ZygoteMessageError


def test_a_fork_request_round_trips_the_plan() -> None:
    plan = {
        "mounts": [{"src": "/code", "dst": "/var/task", "ro": True}],
        "argv": ["/var/lang/bin/python3.11", "-I"],
        "env": {"A": "1"},
        "seccomp": b"\x00" * 16,
        "uid": 993,
        "spare": False,
        "limits_report": None,
    }
    assert messages.decode_request(messages.encode_request(plan)) == plan


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (messages.encode_ready(), Reply(messages.READY)),
        (messages.encode_forked(4242), Reply(messages.FORKED, pid=4242)),
        (messages.encode_exited(4242, 9), Reply(messages.EXITED, pid=4242, status=9)),
        (messages.encode_exited(7, 3 << 8), Reply(messages.EXITED, pid=7, status=768)),
        (messages.encode_refused("cannot fork: EAGAIN"), Reply(messages.REFUSED, message="cannot fork: EAGAIN")),
    ],
)
def test_every_reply_round_trips(data: bytes, reply: Reply) -> None:
    assert messages.decode_reply(data) == reply


def test_the_wire_bytes_stay_what_zygotes_already_running_speak() -> None:
    """A zygote outlives no server, but the letters are documented: changing them is a protocol change."""
    assert messages.encode_ready() == b"R"
    assert messages.encode_forked(1) == b"P\x01\x00\x00\x00"
    assert messages.encode_exited(1, 2)[:1] == b"X"
    assert messages.encode_refused("no") == b"Eno"


def test_a_refusal_is_cut_to_one_small_message() -> None:
    reply = messages.decode_reply(messages.encode_refused("x" * 10_000))
    assert reply.message == "x" * messages.MAX_MESSAGE_BYTES


@pytest.mark.parametrize("data", [b"", b"Q", b"P\x01", b"X\x00\x00\x00\x00", b"Rtrailing"])
def test_broken_replies_are_refused(data: bytes) -> None:
    with pytest.raises(ZygoteMessageError):
        messages.decode_reply(data)


@pytest.mark.parametrize("data", [b"", b"\x00garbage", messages.encode_request([1, 2])])  # type: ignore[arg-type]
def test_broken_requests_are_refused(data: bytes) -> None:
    with pytest.raises(ZygoteMessageError):
        messages.decode_request(data)


@pytest.mark.parametrize("name", ["zygote.py", "spare.py", "frames.py"])
def test_each_codec_loads_by_path_in_an_isolated_interpreter(name: str) -> None:
    """The zygote and the bootstrap load these files by path with `python3 -I -S`: nothing of nimbus, no site."""
    import nimbus.protocol

    path = Path(nimbus.protocol.__file__).parent / name
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('codec', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert not [m for m in sys.modules if m.startswith('nimbus')]\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr
