"""A small upload's whole-file hash, taken in the one request that carries the whole file.

The pump (`prefix.py`) serves files that arrive over many requests, on any worker: it takes
a lease, polls the MetaStore and checkpoints as it goes. When a single body of at most
INLINE_MAX bytes is the whole file (a small upload: create, then one chunk or PATCH), that
machinery costs the event loop more than the hash itself. Such a body is hashed as it
arrives, on a thread, and after it is stored one checkpoint covering the whole file is
saved: completion finds the digest there, on this worker or any other, exactly as if a pump
had saved it. The checkpoint carries the generation read before the body began, so if any
of its bytes were replaced meanwhile the MetaStore refuses it (see `HashState`).
"""

from __future__ import annotations

from upslice.hashing import Pieces, hash_off_loop, size_of
from upslice.hashstate import ResumableHasher
from upslice.record import HashState, Upload
from upslice.stores.base import MetaStore

INLINE_MAX = 8 * 1024 * 1024  # beyond this the pump's overlap with receiving is worth its cost


class InlineHash:
    """The whole-file hash of one body that starts at byte 0 and may end the file."""

    def __init__(self, upload: Upload, generation: int) -> None:
        self.upload_id = upload.id
        self.generation = generation
        self.hasher = ResumableHasher(upload.hash_algorithm)
        self.hashed = 0

    async def feed(self, pieces: Pieces) -> None:
        """The tap of the body's DigestingStream: MD5 releases the GIL, so on a thread."""
        await hash_off_loop(self.hasher.update, pieces)
        self.hashed += size_of(pieces)

    async def save(self, meta: MetaStore, received: int) -> bool:
        """Checkpoint the stored body; False if its bytes were replaced (or it was deleted)."""
        if received == 0 or received != self.hashed:
            return False
        state = HashState(self.generation, received, self.hasher.serialize())
        return await meta.save_hash_state(self.upload_id, state)


async def inline_hash(
    meta: MetaStore, upload: Upload, start: int, length: int | None
) -> InlineHash | None:
    """An InlineHash when the body at `start` of `length` bytes is the whole small file."""
    if not upload.hashed or start != 0 or upload.size is None or length != upload.size:
        return None
    if not 0 < upload.size <= INLINE_MAX:
        return None
    state = await meta.load_hash_state(upload.id)
    if state is not None and state.offset > 0:
        return None  # something was hashed already: the pump continues from there
    return InlineHash(upload, state.generation if state is not None else 0)
