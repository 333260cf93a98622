"""A null tus server: creation and PATCH that only write the bytes to disk, nothing else.

A baseline for the tus rows that shows the lean client is not the bottleneck (a server that
writes on a thread beside its loop, as upslice does, can pass it: it writes on its only thread).
usage: python bench/null_tus.py PORT DIRECTORY
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from pathlib import Path

BLOCK = 1024 * 1024


class NullTus:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.offsets: dict[str, int] = {}
        self.ids = itertools.count()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await reader.readline():
                method, target, _ = request.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                writer.write(await self.answer(method, target, headers, length, reader))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def answer(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        length: int,
        reader: asyncio.StreamReader,
    ) -> bytes:
        upload = target.rsplit("/", 1)[-1]
        if method == "POST":
            upload = str(next(self.ids))
            self.offsets[upload] = 0
            (self.directory / upload).touch()
            return reply(201, f"Location: /files/{upload}")
        if method == "PATCH":
            offset = self.offsets[upload]
            fd = os.open(self.directory / upload, os.O_WRONLY)
            try:
                os.lseek(fd, offset, os.SEEK_SET)
                left = length
                while left:
                    block = await reader.read(min(left, BLOCK))
                    if not block:
                        raise ConnectionError
                    os.write(fd, block)
                    left -= len(block)
            finally:
                os.close(fd)
            self.offsets[upload] = offset + length
            return reply(204, f"Upload-Offset: {offset + length}")
        if method == "HEAD":
            return reply(200, f"Upload-Offset: {self.offsets.get(upload, 0)}")
        if method == "DELETE" and upload in self.offsets:
            del self.offsets[upload]
            (self.directory / upload).unlink()
        return reply(204, "")


def reply(status: int, header: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Tus-Resumable: 1.0.0", "Content-Length: 0"]
    return ("\r\n".join([*lines, header] if header else lines) + "\r\n\r\n").encode()


async def main(port: int, directory: Path) -> None:
    server = await asyncio.start_server(
        NullTus(directory).serve, "127.0.0.1", port, reuse_address=True
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
