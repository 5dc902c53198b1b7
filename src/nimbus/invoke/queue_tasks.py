"""The task supervision the internal-queue workers share: the async-event dispatcher (invoke/async_dispatch.py) and
the event deliveries (sources/deliveries.py) each run one handler task per reserved message, and stop the same way.
Kept in one place (in invoke/, the lower layer, so that sources/ may use it) because the stopping rules are what
keeps a message from being lost or run twice: a message whose handler is cancelled goes back to its queue at once,
not at its visibility deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nimbus.queue.contract import QueueStore, Reserved


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a loop task (a poller's `run`) and wait for it to end; its cancellation is not an error."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def finish_or_cancel(tasks: set[asyncio.Task[None]], grace_s: float) -> None:
    """Let `tasks` finish for `grace_s`, then cancel the rest and wait for them too: none is left unawaited."""
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


async def run_guarded(
    handle: Callable[[Reserved], Awaitable[None]],
    message: Reserved,
    queues: QueueStore,
    queue: str,
    log: logging.Logger,
    failed: str,
) -> None:
    """`handle(message)`, whatever happens: cancelled (stopping), the message goes back to `queue` now rather than at
    its visibility deadline; any other failure of ours is logged (`failed` % the message id) and the message comes
    back at its visibility."""
    try:
        await handle(message)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(queues.nack(queue, message.receipt, 0.0))
        raise
    except Exception:
        log.exception(failed, message.message_id)
