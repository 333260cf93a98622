"""Where a body's blocks are written: a thread while more is arriving, else the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from upslice.stores import page_cache
from upslice.stores.page_cache import PageCacheWriter


class Recorder:
    """A write that notes the thread it ran on, and can be made slow."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.delay = 0.0

    def __call__(self, fd: int, data: Sequence[bytes], offset: int) -> None:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)


async def test_writes_go_to_a_thread_while_more_is_arriving_and_to_the_loop_after() -> None:
    write = Recorder()
    writer = PageCacheWriter(write)
    await writer.write(3, [b"a"], 0, more_to_receive=True)
    await writer.write(3, [b"b"], 1, more_to_receive=False)
    loop_thread = threading.get_ident()
    assert write.threads[0] != loop_thread and write.threads[1] == loop_thread
    assert writer.stalls == 0


async def test_a_stalled_write_sends_every_write_to_a_thread_for_a_while() -> None:
    write = Recorder()
    writer = PageCacheWriter(write)
    write.delay = page_cache.STALL * 2  # the disk pushes back
    await writer.write(3, [b"a"], 0, more_to_receive=False)
    write.delay = 0.0
    await writer.write(3, [b"b"], 1, more_to_receive=False)
    loop_thread = threading.get_ident()
    assert write.threads[0] == loop_thread and write.threads[1] != loop_thread
    assert writer.stalls == 1
    writer.threaded_until = time.monotonic()  # the while is over: back to the loop
    await writer.write(3, [b"c"], 2, more_to_receive=False)
    assert write.threads[2] == loop_thread
