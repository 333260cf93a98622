"""Hash algorithms, client checksums, and the per-chunk digest pipeline."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import os
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import google_crc32c

from upslice.errors import ChecksumMismatch, ClientGone, InvalidInput, WrongChunk

FILE_HASHES = ("md5", "sha256")
CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256")  # what tus and the IETF draft advertise
# The tasks API also takes CRCs: every body gets a CRC-32C anyway, so checking one is free,
# and a CRC-32 (what most JS and zlib give) costs a fraction of an MD5
TASK_CHECKSUMS = (*CHECKSUM_ALGORITHMS, "crc32c", "crc32")
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "crc32c": 8, "crc32": 8}
BLOCK = 1024 * 1024  # hashing and writing happen in blocks this big, on threads mostly
READ_AHEAD = 8  # body pieces (up to 256 KiB each) buffered while a block is hashed and written
MAX_PIECES = 16  # a block of more pieces than this (a trickling client) is joined after all
Pieces = list[bytes]  # one block: the body's pieces as received, in order, not joined


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...
    def digest(self) -> bytes: ...


def update_each(update: Callable[[bytes], None], pieces: Iterable[bytes]) -> None:
    """Hash several pieces in one trip to a thread (each call releases the GIL while it runs)."""
    for piece in pieces:
        update(piece)


# One thread per core for MD5 and SHA: more cannot hash faster, and a burst of small uploads
# on anyio's pool (up to 40 threads) spent its time starting threads and passing the GIL
HASH_THREADS = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="upslice-hash")


_GATHER = threading.local()  # each hashing thread's own buffer (see update_gathered)
GATHER_SIZE = 2 * BLOCK
JOIN_FROM = 8 * BLOCK  # a hashed body this long is joined block by block on the loop


def update_gathered(update: Callable[[bytes], None], pieces: Iterable[bytes]) -> None:
    """Hash pieces with few calls, each releasing the GIL for a long stretch.

    Called once per piece, a hashing thread waits for the GIL after each one while the loop
    is busy. Joined with b"".join on the loop, each block of a burst of small uploads is
    fresh memory that the loop's thread pays to fault in (0.6 ms per MiB on this VM, more than
    a third of the MD5 itself). So small pieces are copied into a buffer this thread keeps,
    whose pages stay mapped, and hashed from there; a piece of half a block or more is hashed
    as it is."""
    buffer: bytearray | None = getattr(_GATHER, "buffer", None)
    if buffer is None:
        buffer = _GATHER.buffer = bytearray(GATHER_SIZE)
    view = memoryview(buffer)
    filled = 0
    for piece in pieces:
        large = len(piece) >= BLOCK // 2
        if filled and (large or filled + len(piece) > GATHER_SIZE):
            update(view[:filled])  # type: ignore[arg-type]  # hashers take any buffer
            filled = 0
        if large:
            update(piece)
        else:
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
    if filled:
        update(view[:filled])  # type: ignore[arg-type]


async def hash_off_loop(update: Callable[[bytes], None], pieces: Iterable[bytes]) -> None:
    """`update_gathered` on a hashing thread."""
    await asyncio.get_running_loop().run_in_executor(HASH_THREADS, update_gathered, update, pieces)


def size_of(pieces: Pieces) -> int:
    return sum(len(piece) for piece in pieces)


def new_hasher(algorithm: str) -> Hasher:
    return hashlib.new(algorithm)


def normalize_file_hash(algorithm: str, value: str) -> str:
    """Lower-case hex of a declared whole-file hash, or a 400 saying what is wrong with it."""
    if algorithm not in FILE_HASHES:
        raise InvalidInput(f"hashAlgorithm must be one of {', '.join(FILE_HASHES)}")
    value = value.strip().lower()
    if len(value) != HEX_LENGTH[algorithm] or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput(f"hash must be {HEX_LENGTH[algorithm]} hex digits of {algorithm}")
    return value


class Crc32:
    """zlib's CRC-32 behind the hashlib interface: several times faster than MD5, GIL released."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")

    def hexdigest(self) -> str:
        return f"crc32:{self.value:08x}"


class Crc32c:
    """CRC-32C (Castagnoli) in hardware, behind the hashlib interface: about 20 GB/s, so it
    runs on the event loop itself, for less than a hand-over to a thread would cost."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = google_crc32c.extend(self.value, data)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")

    def hexdigest(self) -> str:
        return f"crc32c:{self.value:08x}"


def segment_hasher(digest: str) -> Hasher:
    """The hasher that produced a stored segment digest (`crc32c:`; `crc32:` before 2026-12)."""
    return Crc32() if digest.startswith("crc32:") else Crc32c()


@dataclass(frozen=True)
class Checksum:
    """A digest the client sent for one request body."""

    algorithm: str
    digest: bytes

    @classmethod
    def parse_upload_checksum(
        cls, header: str, accepted: tuple[str, ...] = CHECKSUM_ALGORITHMS
    ) -> Checksum:
        """`Upload-Checksum: <algorithm> <base64>` (tus syntax); crc32 is 4 big-endian bytes."""
        algorithm, _, encoded = header.strip().partition(" ")
        algorithm = algorithm.lower()
        if algorithm not in accepted:
            raise InvalidInput(
                f"unsupported checksum algorithm {algorithm!r}",
                supported=list(accepted),
            )
        return cls(algorithm, _b64(encoded.strip(), algorithm))

    @classmethod
    def parse_content_md5(cls, header: str) -> Checksum:
        return cls("md5", _b64(header.strip(), "md5"))


def _b64(encoded: str, algorithm: str) -> bytes:
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"checksum is not valid base64: {encoded!r}") from None
    if len(digest) != HEX_LENGTH[algorithm] // 2:
        raise InvalidInput(f"a {algorithm} checksum has {HEX_LENGTH[algorithm] // 2} bytes")
    return digest


class DigestingStream:
    """Re-blocks a request body, digests it off the event loop, and enforces its length.

    A store pulls blocks from `blocks()` and writes each before pulling the next. The iterator
    raises (after the last block, before the store could finish) when the body is short, too
    long or fails its checksum, so a store never commits such a body. With `keep_partial`, a
    body cut short just ends: the store keeps what arrived and `complete` stays False.
    `tap` is handed every block too: that is how the whole-file prefix hash is fed without
    reading the data back. A block is a list of the pieces received (`Pieces`): joining them
    would copy every byte once more, and `os.pwritev` writes them as they are. A block that
    is hashed on a thread is joined in a long body and gathered there in a short one (see
    `_digest`).
    `declared_length` (a request's Content-Length) only tells when the last block has come:
    see `BodyBlocks`.
    """

    def __init__(
        self,
        source: AsyncIterator[bytes],
        *,
        expected_length: int | None,
        limit: int | None = None,
        checksum: Checksum | None = None,
        tap: Callable[[Pieces], Awaitable[None]] | None = None,
        keep_partial: bool = False,
        declared_length: int | None = None,
    ) -> None:
        self.source = source
        self.expected_length = expected_length
        self.last_byte = expected_length if expected_length is not None else declared_length
        self.limit = limit
        self.checksum = checksum
        self.keep_partial = keep_partial and checksum is None
        self.crc = Crc32c()
        self.tap = tap
        self.checksum_hasher: Hasher | None = None
        if checksum is not None and checksum.algorithm == "crc32c":
            self.checksum_hasher = self.crc  # computed for every body anyway: free to check
        elif checksum is not None and checksum.algorithm == "crc32":
            self.checksum_hasher = Crc32()
        elif checksum is not None:
            self.checksum_hasher = new_hasher(checksum.algorithm)
        self.received = 0
        self.complete = False
        self.body_ended = False  # no byte of the body is left to receive

    def blocks(self) -> BodyBlocks:
        return BodyBlocks(self._blocks(), self)

    async def _blocks(self) -> AsyncIterator[Pieces]:
        pending: Pieces = []
        pending_size = 0
        cut = False
        try:
            async for piece in _read_ahead(self.source):
                self._check_length(self.received + pending_size + len(piece))
                pending.append(piece)
                pending_size += len(piece)
                if pending_size >= BLOCK:
                    yield await self._digest(pending)
                    pending, pending_size = [], 0
        except ClientGone:
            if not self.keep_partial:
                raise
            cut = True
        self.body_ended = True
        if pending:
            yield await self._digest(pending)
        if cut:
            return
        if self.expected_length is not None and self.received != self.expected_length:
            raise WrongChunk(
                f"body has {self.received} bytes, expected {self.expected_length}",
                expectedSize=self.expected_length,
            )
        self._verify_checksum()
        self.complete = True

    def _check_length(self, total: int) -> None:
        if self.expected_length is not None and total > self.expected_length:
            raise WrongChunk(
                f"body is longer than the expected {self.expected_length} bytes",
                expectedSize=self.expected_length,
            )
        if self.limit is not None and total > self.limit:
            raise WrongChunk(f"body is longer than the allowed {self.limit} bytes")

    async def _digest(self, pieces: Pieces) -> Pieces:
        threaded = self.checksum_hasher if self.checksum_hasher is not self.crc else None
        hashed = self.tap is not None or threaded is not None
        long_body = self.last_byte is None or self.last_byte >= JOIN_FROM
        if len(pieces) > MAX_PIECES or (hashed and long_body and len(pieces) > 1):
            # Many tiny pieces cost more one by one than joined. So do the blocks of a long
            # body that MD5 or SHA hash on a thread, block after block in memory the loop has
            # just freed (1 GiB verified: 459 MiB/s joined, 427 gathered on the thread). The
            # blocks of short bodies, often many at once, are gathered there instead.
            pieces = [b"".join(pieces)]
        for piece in pieces:
            self.crc.update(piece)
        if threaded is not None:  # it releases the GIL: beside the loop
            await hash_off_loop(threaded.update, pieces)
        if self.tap is not None:
            await self.tap(pieces)
        self.received += size_of(pieces)
        if self.received == self.last_byte:
            self.body_ended = True
        return pieces

    @property
    def digest(self) -> str:
        """The segment digest kept for later integrity checks (CRC-32C: cheap, catches rot)."""
        return self.crc.hexdigest()

    def _verify_checksum(self) -> None:
        if self.checksum is None or self.checksum_hasher is None:
            return
        if self.checksum_hasher.digest() != self.checksum.digest:
            raise ChecksumMismatch(
                f"{self.checksum.algorithm} checksum of the body does not match the one sent",
                algorithm=self.checksum.algorithm,
            )


class BodyBlocks(AsyncIterator[bytes]):
    """The blocks of a DigestingStream, with word of whether the body's last byte is in.

    A store writes a block on a thread so that the loop goes on receiving meanwhile. Once
    the body has ended there is nothing left to overlap with: the block may as well be
    written on the loop, without the trip to a thread and back (see stores/page_cache.py).
    Iterated, it gives each block as bytes (one join); a store that writes a list of buffers
    in one call takes `pieces()` instead, and no byte is copied for it.
    """

    def __init__(self, blocks: AsyncIterator[Pieces], stream: DigestingStream) -> None:
        self._blocks = blocks
        self._stream = stream

    @property
    def body_ended(self) -> bool:
        return self._stream.body_ended

    def __aiter__(self) -> BodyBlocks:
        return self

    async def __anext__(self) -> bytes:
        pieces = await anext(self._blocks)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def pieces(self) -> AsyncIterator[Pieces]:
        return self._blocks


async def _read_ahead(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Keep receiving from the socket while the previous block is hashed and written.

    Without this the server reads, then hashes, then writes, one after the other; with it the
    network and the disk overlap. At most READ_AHEAD pieces (up to 256 KiB each) wait in memory.
    """
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(READ_AHEAD)

    async def pump() -> None:
        try:
            async for piece in source:
                if piece:
                    await queue.put(piece)
            await queue.put(None)
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
