"""Writes on the event loop when nothing could overlap with them, while the disk keeps up.

A block is written on a thread so that the loop goes on receiving meanwhile. Once a body's
last byte has arrived nothing is left to receive, and with many requests at once a trip to
a thread and back waits for the GIL behind the others: 20 to 50 ms per trip with 50
concurrent 1 MiB uploads, against well under a millisecond for the copy into the page cache.
But a write can also block: the kernel throttles a writer once too many pages are dirty, and
a slow disk then holds it for milliseconds, which would stall every other request. So each
write on the loop is timed, and after one that stalled, every write goes through a thread
for a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio

STALL = 0.004  # a write on the loop that took longer waited for the disk, not for memory
THREADED_FOR = 5.0  # after a stall, how long every write goes through a thread

Write = Callable[[int, Sequence[bytes], int], None]  # (fd, pieces, offset): writes them all


class PageCacheWriter:
    """Runs `write` on a worker thread, or on the loop when nothing could overlap with it."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self.threaded_until = 0.0
        self.stalls = 0

    async def write(
        self, fd: int, data: Sequence[bytes], offset: int, *, more_to_receive: bool
    ) -> None:
        began = time.monotonic()
        if more_to_receive or began < self.threaded_until:
            await anyio.to_thread.run_sync(self._write, fd, data, offset)
            return
        self._write(fd, data, offset)
        if time.monotonic() - began > STALL:
            self.stalls += 1
            self.threaded_until = time.monotonic() + THREADED_FOR
