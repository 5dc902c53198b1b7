"""One instance's protocol edge: what a process said just before it exited is its answer, not a crash."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from nimbus.instances.environment import FRAMES_PATH
from nimbus.instances.instance import Instance
from nimbus.instances.lifecycle import DeathReason
from nimbus.instances.process import LaunchCommand, SpawnLauncher
from nimbus.logs.sink import MemorySink
from nimbus.protocol import frames

from .test_manager import make_spec

#: the source a runtime loads by path (the server itself may run frames compiled: nimbus/compiled.py)
FRAMES = FRAMES_PATH
#: a "runtime" that reports an init error and exits at once, before anyone waits for it
SAY_AND_EXIT = f"""
import importlib.util, os
spec = importlib.util.spec_from_file_location("codec", {str(FRAMES)!r})
codec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(codec)
os.write(3, codec.encode(codec.INIT_ERROR, {{}}, b'{{"errorType": "Runtime.AfterRestoreError"}}'))
os._exit(1)
"""


def test_a_frame_written_before_the_exit_is_the_answer(tmp_path: Path) -> None:
    async def main() -> None:
        command = LaunchCommand(Path(sys.executable), [sys.executable, "-c", SAY_AND_EXIT], {}, tmp_path)
        handle = await SpawnLauncher().launch(command)
        await handle.wait()  # gone before the instance is even watched
        instance = Instance(make_spec(tmp_path), handle, MemorySink(), "/aws/lambda/fn", "stream")
        instance.attach()
        frame = await instance.wait_ready(5)
        assert frame.kind == frames.INIT_ERROR
        assert b"AfterRestoreError" in frame.body
        await instance.stop(DeathReason.INIT_ERROR)

    asyncio.run(main())
