"""What the runtime tests that drive a bootstrap process directly share: the frame channel to it (a socketpair
speaking nimbus.protocol.frames), one INVOKE at a time."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from nimbus.protocol import frames


class FrameChannel:
    """Our end of a bootstrap's socketpair: `sock` and the bootstrap's `proc` set by the subclass; `who` names the
    other end in failures."""

    who = "the runtime"
    sock: socket.socket
    proc: subprocess.Popen[bytes]

    def __init__(self) -> None:
        self.decoder = frames.FrameDecoder()
        self.pending: list[frames.Frame] = []

    def receive(self) -> frames.Frame:
        """The next frame the bootstrap sends."""
        while not self.pending:
            data = self.sock.recv(1 << 16)
            assert data, f"{self.who} closed its channel"
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def invoke(self, request_id: str, event: object, trace_id: str = "") -> frames.Frame:
        """Send one INVOKE (30 s deadline, function ARN `arn:fn`) and return the frame that answers it."""
        header = frames.invoke_header(request_id, int(time.time() * 1000) + 30_000, "arn:fn", trace_id)
        self.sock.sendall(frames.encode(frames.INVOKE, header, json.dumps(event).encode()))
        return self.receive()


def task_root(root: Path, files: dict[str, str]) -> Path:
    """Make the folder `root` holding `files` (name: text): a function's task root."""
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def kill_running(channels: Iterable[FrameChannel]) -> None:
    """Kill (and reap) each channel's bootstrap process `proc` that is still running."""
    for channel in channels:
        if channel.proc.poll() is None:
            channel.proc.kill()
            channel.proc.wait()
