"""SnapStart scale-out: a version whose init takes ~300 ms; extra instances started while others are busy.

In-process through InstanceManager. Baseline: the init time itself (the first cold start, which makes the
template). Measured: the extra latency of each additional concurrent invocation (restored from the template)
over the handler's own run time. Target: <= 0.3x the init time (goal 0.05x).

    .venv/bin/python bench/snapstart.py [--extra 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cold_start import req, spec
from nimbus.config import Settings
from nimbus.instances import InstanceManager
from nimbus.logs.sink import MemorySink

APP = "import time\ntime.sleep(0.3)\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return 1\n"


def make_code() -> Path:
    code = Path(tempfile.mkdtemp())
    code.chmod(0o755)
    (code / "app.py").write_text(APP)
    return code


async def main(extra: int) -> None:
    code = make_code()
    manager = InstanceManager(Settings(), MemorySink())
    await manager.start()
    s = spec(code, "snap", version="1", snap_start=True)
    try:
        t = time.perf_counter()
        await manager.invoke(s, req())
        init = (time.perf_counter() - t) * 1000

        async def busy() -> float:
            t = time.perf_counter()
            await manager.invoke(s, req({"s": 1.0}))
            return (time.perf_counter() - t) * 1000 - 1000

        added = await asyncio.gather(*(busy() for _ in range(extra + 1)))
    finally:
        await manager.stop()
    med = statistics.median(added)
    print(f"first cold start (init ~300 ms + template)  {init:7.1f} ms")
    print(f"added latency per extra instance (median)    {med:7.1f} ms  (max {max(added):.1f})")
    print(f"ratio to init                                {med / init:7.3f}x  (target <= 0.3x, goal 0.05x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--extra", type=int, default=5)
    asyncio.run(main(parser.parse_args().extra))
