"""The control-socket frame codec: round trips, incremental decoding, limits, and purity (no I/O imports)."""

from __future__ import annotations

import ast
import json
import subprocess

import pytest

from nimbus.instances.environment import FRAMES_PATH
from nimbus.protocol import frames
from nimbus.runtimes.registry import available_runtimes

#: the source every runtime loads by path (the server itself may run frames compiled: nimbus/compiled.py)
FRAMES_FILE = FRAMES_PATH


def test_round_trip_keeps_body_bytes_exact() -> None:
    body = '{"ü": [1, 2.50, null]}'.encode() + bytes(range(256))
    data = frames.encode(frames.RESULT, {"a": 1}, body)
    [frame] = frames.FrameDecoder().feed(data)
    assert frame == frames.Frame(frames.RESULT, {"a": 1}, body)


def test_byte_by_byte_and_many_frames_per_chunk() -> None:
    stream = b"".join(frames.encode(frames.INVOKE, {"n": n}, b"x" * n) for n in range(5))
    decoder = frames.FrameDecoder()
    got = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert [(f.header["n"], f.body) for f in got] == [(n, b"x" * n) for n in range(5)]
    assert decoder.pending == 0
    assert len(frames.FrameDecoder().feed(stream)) == 5


def test_empty_body_and_no_header() -> None:
    [frame] = frames.FrameDecoder().feed(frames.encode(frames.READY))
    assert frame == frames.Frame(frames.READY, {}, b"")


def test_invoke_header_fields() -> None:
    header = frames.invoke_header("rid", 123, "arn:x", "Root=1", '{"custom": {}}', 1000)
    [frame] = frames.FrameDecoder().feed(frames.encode(frames.INVOKE, header, b"{}"))
    assert frame.header == {
        "request_id": "rid",
        "deadline_ms": 123,
        "invoked_arn": "arn:x",
        "trace_id": "Root=1",
        "client_context": '{"custom": {}}',
        "spin_us": 1000,
    }


@pytest.mark.parametrize(
    ("rid", "deadline", "arn", "trace", "context", "spin"),
    [
        ("rid", 123, "arn:x", "Root=1", '{"custom": {}}', 1000),
        ("8f0e-ü", 1_700_000_000_000, "arn:aws:lambda:us-east-1:0:function:f:$LATEST", "", None, 0),
        ('a"b\\c\n', 0, "", "Root=1-2-3;Parent=4;Sampled=0", "\u2028 \x00", 7),
    ],
)
def test_the_invoke_frame_written_straight_is_the_generic_one(
    rid: str, deadline: int, arn: str, trace: str, context: str | None, spin: int
) -> None:
    header = frames.invoke_header(rid, deadline, arn, trace, context, spin)
    straight = frames.encode_invoke(rid, deadline, arn, trace, context, spin, b'{"k": 1}')
    assert straight == frames.encode(frames.INVOKE, header, b'{"k": 1}')


def test_an_oversized_invoke_header_raises() -> None:
    with pytest.raises(frames.FrameError):
        frames.encode_invoke("r", 0, "x" * frames.MAX_HEADER_BYTES)


def test_body_over_limit_is_refused_from_the_prefix_alone() -> None:
    data = frames.encode(frames.RESULT, None, b"y" * 101)
    with pytest.raises(frames.FrameTooLarge) as info:
        frames.FrameDecoder(max_body=100).feed(data[:20])
    assert info.value.size == 101


def test_a_whole_frame_in_one_read_is_held_to_the_limits_too() -> None:
    """The usual read, exactly one whole frame, is taken at once: at the body limit it is a frame, one past it is
    refused; so is a whole frame whose header is over its limit."""
    at_limit = frames.encode(frames.RESULT, None, b"y" * 100)
    assert frames.FrameDecoder(max_body=100).feed(at_limit) == [frames.Frame(frames.RESULT, {}, b"y" * 100)]
    with pytest.raises(frames.FrameTooLarge):
        frames.FrameDecoder(max_body=100).feed(frames.encode(frames.RESULT, None, b"y" * 101))
    head = json.dumps({"kind": "x", "pad": "p" * frames.MAX_HEADER_BYTES}).encode()
    with pytest.raises(frames.FrameError):
        frames.FrameDecoder().feed(frames.PREFIX.pack(len(head), 0) + head)


def test_frames_fed_from_a_reused_read_buffer_are_copies() -> None:
    """The runtime feeds a view of the one buffer it reads into: frames (and an incomplete rest) must not change
    when the next read overwrites it."""
    buffer = bytearray(256)
    view = memoryview(buffer)
    decoder = frames.FrameDecoder()
    one = frames.encode(frames.INVOKE, {"n": 1}, b"first")
    two = frames.encode(frames.INVOKE, {"n": 2}, b"second")
    buffer[: len(one)] = one
    [first] = decoder.feed(view[: len(one)])
    buffer[: len(one) + 5] = one + two[:5]  # a whole frame and the start of the next
    [again] = decoder.feed(view[: len(one) + 5])
    buffer[:] = b"\0" * len(buffer)
    buffer[: len(two) - 5] = two[5:]
    [second] = decoder.feed(view[: len(two) - 5])
    assert (first, again, second) == (
        frames.Frame(frames.INVOKE, {"n": 1}, b"first"),
        frames.Frame(frames.INVOKE, {"n": 1}, b"first"),
        frames.Frame(frames.INVOKE, {"n": 2}, b"second"),
    )
    assert decoder.pending == 0


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"request_id": "rid", "deadline_ms": 1764500000000, "client_context": None, "spin_us": 0},
        {"s": 'é\u2028"\\\n\x00\U0001f600', "big": 10**30, "neg": -1, "t": True, "f": False},
        {"env": {"A": "b"}},  # not flat: the general encoder
        {"x": 1.5, "l": [1, None]},
        {7: "seven", "y": 1},  # a key that is not a string: the general encoder
    ],
)
def test_headers_are_written_as_compact_ascii_json(header: dict[str, object]) -> None:
    """Frames rendered field by field are byte for byte what json.dumps writes: every runtime parses them."""
    data = frames.encode(frames.RESULT, header, b"z")
    expected = json.dumps({"kind": frames.RESULT, **header}, separators=(",", ":"), ensure_ascii=True).encode()
    assert data == frames.PREFIX.pack(len(expected), 1) + expected + b"z"
    [frame] = frames.FrameDecoder().feed(data)
    assert frame == frames.Frame(frames.RESULT, json.loads(json.dumps(header)), b"z")


def test_white_space_around_a_header_is_json_still() -> None:
    head = b' {"kind": "ready"}\n'
    [frame] = frames.FrameDecoder().feed(frames.PREFIX.pack(len(head), 0) + head)
    assert frame == frames.Frame(frames.READY, {}, b"")


@pytest.mark.parametrize(
    "head",
    [b"not json", b"[1]", json.dumps({"no_kind": 1}).encode(), json.dumps({"kind": 3}).encode(),
     b'{"kind": "x"} trailing', b"", b"\xff", b"[" * 60_000],
)
def test_bad_headers_raise_frame_error(head: bytes) -> None:
    with pytest.raises(frames.FrameError):
        frames.FrameDecoder().feed(frames.PREFIX.pack(len(head), 0) + head)


def test_oversized_header_raises() -> None:
    with pytest.raises(frames.FrameError):
        frames.FrameDecoder().feed(frames.PREFIX.pack(frames.MAX_HEADER_BYTES + 1, 0))
    with pytest.raises(frames.FrameError):
        frames.encode(frames.INVOKE, {"x": "y" * frames.MAX_HEADER_BYTES})


def test_protocol_package_does_no_io() -> None:
    forbidden = {"asyncio", "socket", "subprocess", "selectors", "threading"}
    for path in FRAMES_FILE.parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
                # nothing of ours but errors and the package's own pure modules (SNS's messages use the filters)
                ours = name == "nimbus.errors" or name == "nimbus.protocol" or name.startswith("nimbus.protocol.")
                assert not name.startswith("nimbus.") or ours, f"{path.name} imports {name}"


def test_codec_loads_by_path_on_the_oldest_runtime() -> None:
    """The bootstrap loads this very file on python3.8+: it must stay importable there."""
    runtimes = available_runtimes()
    if not runtimes:
        pytest.skip("no python runtimes on this host")
    oldest = next(iter(runtimes.values()))
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('f', {str(FRAMES_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['f'] = m; spec.loader.exec_module(m)\n"
        "print(m.FrameDecoder().feed(m.encode('ready', {'a': 1}, b'z'))[0])\n"
    )
    out = subprocess.run([str(oldest), "-I", "-S", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Frame(kind='ready', header={'a': 1}, body=b'z')"
