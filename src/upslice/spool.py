"""Bytes kept locally for a moment: in memory while small, then in a temp file (bounded RSS)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from upslice.hashing import update_each

BLOCK = 1024 * 1024


class Spool:
    """One chunk or part on its way somewhere else (S3, the whole-file hash)."""

    def __init__(self, in_memory: int = BLOCK) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=in_memory)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    async def tap(self, pieces: list[bytes]) -> None:
        """For `DigestingStream(tap=...)`: a write off the loop (it may hit the disk)."""
        await asyncio.to_thread(update_each, self.write, pieces)

    def body(self) -> IO[bytes]:
        """The file from its start, as an upload body."""
        self.file.seek(0)
        return self.file

    async def blocks(self) -> AsyncIterator[bytes]:
        self.file.seek(0)
        while block := await asyncio.to_thread(self.file.read, BLOCK):
            yield block

    def close(self) -> None:
        self.file.close()
