"""A hypothesis state machine over the public Engine API, on real stores, with crash-restarts.

Rules create (or resume, or instantly complete) tasks for a few small files, write chunks
(good, corrupt with and without a checksum, cut short, too short), re-send them, complete,
delete, and crash: the Engine is dropped without being closed and a new one is built on the
same directory and SQLite file, as after a kill. After every step the invariants hold: no
acknowledged chunk is lost, `done` means the stored bytes match the declared hash, a deleted
upload is gone everywhere, and fsck finds nothing (no orphan bytes, no record without bytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from upslice.engine import Engine, Limits, TaskSpec
from upslice.errors import (
    ChecksumMismatch,
    ClientGone,
    Conflict,
    HashMismatch,
    MissingChunks,
    NotFound,
    UploadError,
    WrongChunk,
)
from upslice.fsck import check
from upslice.hashing import Checksum
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore

CHUNK = 1024
FILES = [random.Random(n).randbytes(n) for n in (2500, 1024, 0, 3000)]
MODES = ["good", "checked", "corrupt", "corrupt-checked", "cut", "corrupt-cut", "short"]
T = TypeVar("T")


@dataclass
class Model:
    """What the engine must say about one upload."""

    file: int
    chunks: dict[int, bool] = field(default_factory=dict)  # stored chunk -> its bytes are right
    done: bool = False
    deleted: bool = False

    @property
    def data(self) -> bytes:
        return FILES[self.file]

    @property
    def chunk_count(self) -> int:
        return -(-len(self.data) // CHUNK)

    def chunk(self, index: int) -> bytes:
        return self.data[index * CHUNK : (index + 1) * CHUNK]

    @property
    def all_in(self) -> bool:
        return len(self.chunks) == self.chunk_count


def spec(data: bytes) -> TaskSpec:
    return TaskSpec(
        hash=hashlib.md5(data).hexdigest(),
        file_name="f.bin",
        file_type="application/octet-stream",
        file_size=len(data),
        chunk_size=CHUNK,
    )


async def body(data: bytes, *, cut: bool = False) -> AsyncIterator[bytes]:
    yield data
    if cut:
        raise ClientGone("the connection closed before the body ended")


async def cancel_background_tasks() -> None:
    """What asyncio.run does at its end: the engines' background hashing stops cleanly."""
    pending = asyncio.all_tasks() - {asyncio.current_task()}
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class EngineMachine(RuleBasedStateMachine):
    uploads = Bundle("uploads")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="upslice-machine-"))
        self.loop = asyncio.new_event_loop()
        self.dropped: list[Engine] = []
        self.models: dict[str, Model] = {}
        self.engine = self.run(self.new_engine())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def new_engine(self) -> Engine:
        engine = Engine(
            FilesystemStore(self.dir / "data"),
            SqliteMetaStore(self.dir / "meta.db"),
            Limits(min_chunk_size=CHUNK),
        )
        await engine.open()
        return engine

    def expect(self, error: type[UploadError] | None, coro: Coroutine[Any, Any, T]) -> T | None:
        """Run `coro`; it must raise exactly `error` (or nothing when None)."""
        if error is None:
            return self.run(coro)
        with pytest.raises(error) as caught:
            self.run(coro)
        assert type(caught.value) is error, caught.value
        return None

    def live(self, file: int) -> list[str]:
        return [i for i, m in self.models.items() if m.file == file and not m.deleted]

    # ---- rules ---------------------------------------------------------------------------

    @rule(target=uploads, file=st.sampled_from(range(len(FILES))))
    def create(self, file: int) -> str:
        unfinished = [i for i in self.live(file) if not self.models[i].done]
        finished = [i for i in self.live(file) if self.models[i].done]
        upload, created = self.run(self.engine.create_task(spec(FILES[file])))
        if unfinished:
            assert not created and [upload.id] == unfinished
            return upload.id
        assert created and upload.id not in self.models
        assert upload.done == (bool(finished) or not FILES[file])
        assert upload.instant == bool(finished)
        self.models[upload.id] = Model(file, done=upload.done)
        return upload.id

    @rule(
        upload=uploads,
        pick=st.sampled_from(["next", "next", "resend", "any"]),
        any_index=st.integers(0, 2),
        mode=st.sampled_from(["good", "good", *MODES]),
    )
    def write_chunk(self, upload: str, pick: str, any_index: int, mode: str) -> None:
        """Mostly the next missing chunk, often a re-send of a stored one, sometimes any."""
        model = self.models[upload]
        missing = [i for i in range(model.chunk_count) if i not in model.chunks]
        index = {
            "next": missing[0] if missing else any_index,
            "resend": min(model.chunks, default=any_index),
        }.get(pick, any_index)
        good = model.chunk(index)
        sent = bytes(b ^ 0xFF for b in good) if mode.startswith("corrupt") else good
        checksum = None
        if mode.endswith("checked"):
            checksum = Checksum("md5", hashlib.md5(good).digest())
        cut = mode.endswith("cut")
        stream = body(sent[: len(sent) // 2] if cut or mode == "short" else sent, cut=cut)
        refused: type[UploadError] | None = {
            "corrupt-checked": ChecksumMismatch,
            "cut": ClientGone,
            "corrupt-cut": ClientGone,
            "short": WrongChunk,
        }.get(mode)
        if model.deleted:
            refused = NotFound
        elif model.done:
            refused = Conflict
        elif index >= model.chunk_count:
            refused = WrongChunk
        elif refused is None and sent:
            model.chunks[index] = not mode.startswith("corrupt")
            if model.all_in and not all(model.chunks.values()):
                refused = HashMismatch  # stored, then the automatic completion fails
        elif refused is None:
            refused = WrongChunk  # an empty body for a chunk of a non-empty file
        coro = self.engine.write_chunk(upload, index, stream, checksum=checksum)
        result = self.expect(refused, coro)
        if result is not None:
            model.done = model.all_in
            assert result.done == model.done

    @rule(upload=uploads)
    def complete(self, upload: str) -> None:
        model = self.models[upload]
        error: type[UploadError] | None = None
        if model.deleted:
            error = NotFound
        elif not model.done and not model.all_in:
            error = MissingChunks
        elif not model.done and not all(model.chunks.values()):
            error = HashMismatch
        result = self.expect(error, self.engine.complete(upload))
        if result is not None:
            assert result.done
            model.done = True

    @rule(upload=uploads)
    def delete(self, upload: str) -> None:
        model = self.models[upload]
        self.expect(NotFound if model.deleted else None, self.engine.delete(upload))
        model.deleted = True

    @rule()
    def crash_and_restart(self) -> None:
        """Drop the engine unclosed (its connection stays open, as in a killed process)."""
        self.dropped.append(self.engine)
        self.engine = self.run(self.new_engine())

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def acknowledged_chunks_are_kept(self) -> None:
        for upload_id, model in self.models.items():
            if model.deleted:
                continue
            upload = self.run(self.engine.get(upload_id))
            assert upload.done == model.done, upload
            if not model.done:
                assert upload.received_chunks == sorted(model.chunks), upload

    @invariant()
    def done_means_the_bytes_match_the_hash(self) -> None:
        for upload_id, model in self.models.items():
            if model.done and not model.deleted:
                upload = self.run(self.engine.download(upload_id))
                stored = self.run(self.read_all(upload_id))
                assert stored == model.data
                assert upload.hash == hashlib.md5(stored).hexdigest()

    async def read_all(self, upload_id: str) -> bytes:
        upload = await self.engine.download(upload_id)
        return b"".join([b async for b in self.engine.data.read(upload, 0, upload.size or 0)])

    @invariant()
    def deleted_uploads_are_gone_everywhere(self) -> None:
        listed = {u.id for u in self.run(self.engine.list_uploads(None))}
        assert listed == {i for i, m in self.models.items() if not m.deleted}
        stored = self.run(self.stored_ids())
        for upload_id, model in self.models.items():
            if model.deleted:
                self.expect(NotFound, self.engine.get(upload_id))
                assert upload_id not in stored

    async def stored_ids(self) -> set[str]:
        return {item.upload_id async for item in self.engine.data.stored()}

    @invariant()
    def fsck_finds_nothing(self) -> None:
        report = self.run(check(self.engine.data, self.engine.meta, grace=timedelta(0)))
        assert report.findings == [], [f.line() for f in report.findings]

    def teardown(self) -> None:
        for engine in [*self.dropped, self.engine]:
            self.run(engine.close())
        self.run(cancel_background_tasks())
        self.run(self.loop.shutdown_asyncgens())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


EngineMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # explaining is slow
)
TestEngineMachine = EngineMachine.TestCase


def test_a_refused_resend_leaves_the_stored_chunk() -> None:
    """One path the random walk rarely finds in its budget, replayed on every run."""
    machine = EngineMachine()
    try:
        upload = machine.create(0)
        machine.write_chunk(upload, "next", 0, "good")
        machine.write_chunk(upload, "resend", 0, "corrupt-checked")
        machine.crash_and_restart()
        machine.write_chunk(upload, "next", 0, "good")
        machine.write_chunk(upload, "next", 0, "good")
        machine.acknowledged_chunks_are_kept()
        machine.done_means_the_bytes_match_the_hash()
        machine.fsck_finds_nothing()
    finally:
        machine.teardown()
