"""Receiving without HTTP: chunks by index, appends at an offset, ranges, declared lengths.

The front ends turn these errors' details into JSON bodies, so the details are asserted too.
Each test here kills mutants that the in-process suite let through (tests/MUTANTS.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.engine.conftest import LeaseRequests, body, make_engine
from upslice.engine import Engine, TaskSpec, receiving
from upslice.engine.records import utcnow
from upslice.errors import (
    ChecksumMismatch,
    ClientGone,
    Conflict,
    Gone,
    InvalidInput,
    Locked,
    NotFound,
    OffsetMismatch,
    TooLarge,
    UploadError,
    WrongChunk,
)
from upslice.hashing import Checksum
from upslice.record import State, Upload

CHUNK = 1024
DATA = random.Random(1).randbytes(3 * CHUNK + 10)  # 4 chunks, the last one 10 bytes


async def task(engine: Engine, data: bytes = DATA) -> Upload:
    spec = TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)
    upload, _ = await engine.create_task(spec)
    return upload


async def tus(engine: Engine, size: int | None = len(DATA)) -> Upload:
    return await engine.new_upload(
        protocol="tus", owner=None, file_name="f", file_type="", size=size
    )


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


async def cut(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ClientGone("the client went away")


def refused(raised: pytest.ExceptionInfo[UploadError]) -> tuple[str, dict[str, object]]:
    return raised.value.message, raised.value.details


@pytest.mark.parametrize("index", [-1, 4])
async def test_a_chunk_index_outside_the_task_is_refused(engine: Engine, index: int) -> None:
    upload = await task(engine)
    with pytest.raises(WrongChunk) as raised:
        await engine.write_chunk(upload.id, index, body(b"x"))
    assert refused(raised) == (f"chunk index {index} is outside 0..3", {"chunkCount": 4})


async def test_a_chunk_of_the_wrong_declared_or_actual_size_is_refused(engine: Engine) -> None:
    upload = await task(engine)
    with pytest.raises(WrongChunk) as raised:
        await engine.write_chunk(upload.id, 3, body(DATA[-10:]), content_length=11)
    assert refused(raised) == (
        "chunk 3 must be 10 bytes, the request declares 11",
        {"expectedSize": 10},
    )
    with pytest.raises(WrongChunk) as raised:  # no Content-Length: the body itself is counted
        await engine.write_chunk(upload.id, 1, body(DATA[CHUNK : 2 * CHUNK - 1]))
    assert raised.value.details == {"expectedSize": CHUNK}
    last = await engine.write_chunk(upload.id, 3, body(DATA[-10:]), content_length=10)
    assert last.received_chunks == [3]


async def test_a_chunk_whose_checksum_differs_is_refused(engine: Engine) -> None:
    upload = await task(engine)
    wrong = Checksum("md5", hashlib.md5(b"other").digest())
    with pytest.raises(ChecksumMismatch):
        await engine.write_chunk(upload.id, 0, body(DATA[:CHUNK]), checksum=wrong)
    assert (await engine.get(upload.id)).received_chunks == []


async def test_uploads_that_take_no_more_bytes_say_why(engine: Engine) -> None:
    done = await task(engine, b"")  # an empty file is complete at once
    verifying, expired = await task(engine, DATA), await task(engine, DATA[:-1])
    assert await engine.meta.transition(verifying.id, [State.RECEIVING], State.VERIFYING)
    await engine.meta.update(expired.id, expires_at=utcnow() - timedelta(seconds=1))
    cases = [
        (done, Conflict, "the upload is already complete"),
        (verifying, Conflict, "the upload is being verified"),
        (expired, Gone, "the upload has expired; create it again"),
    ]
    for upload, error, message in cases:
        with pytest.raises(error) as raised:
            await engine.write_chunk(upload.id, 0, body(b"x"))
        assert type(raised.value) is error
        assert refused(raised) == (message, {"uploadId": upload.id})


async def test_a_chunk_being_written_elsewhere_is_refused(tmp_path: Path, engine: Engine) -> None:
    upload = await task(engine)
    other = make_engine(tmp_path)  # the same stores: another worker
    await other.open()
    try:
        async with other.leases.holding(f"chunk:{upload.id}:{CHUNK}") as held:
            assert held is not None
            with pytest.raises(Conflict) as raised:
                await engine.write_chunk(upload.id, 1, body(DATA[CHUNK : 2 * CHUNK]))
        assert raised.value.details == {"offset": CHUNK}
    finally:
        await other.close()


async def test_appends_continue_at_the_offset_and_complete_at_the_length(engine: Engine) -> None:
    upload = await tus(engine)
    first = await engine.append(upload.id, 0, body(DATA[:100]), content_length=100)
    assert (first.offset, first.done) == (100, False)
    with pytest.raises(OffsetMismatch) as raised:
        await engine.append(upload.id, 50, body(DATA[50:]))
    assert refused(raised) == ("the upload is at offset 100, not 50", {"offset": 100})
    rest = len(DATA) - 100
    with pytest.raises(TooLarge) as too_large:
        await engine.append(upload.id, 100, body(DATA[100:] + b"x"), content_length=rest + 1)
    assert too_large.value.message == f"the body exceeds the {rest} bytes left in the upload"
    with pytest.raises(WrongChunk):  # no Content-Length: the body is stopped at the length
        await engine.append(upload.id, 100, body(DATA[100:] + b"x"))
    done = await engine.append(upload.id, 100, body(DATA[100:]), content_length=rest)
    assert done.done and done.hash == hashlib.md5(DATA).hexdigest()


async def test_a_cut_append_keeps_what_arrived(engine: Engine) -> None:
    upload = await tus(engine)
    kept = await engine.append(upload.id, 0, cut(DATA[:300]))
    assert kept.offset == 300 and not kept.done
    done = await engine.append(upload.id, 300, body(DATA[300:]))
    assert done.done and done.hash == hashlib.md5(DATA).hexdigest()


async def test_an_append_may_leave_completion_to_a_later_request(engine: Engine) -> None:
    """The IETF draft completes only when a request says so (Upload-Complete: ?1)."""
    upload = await tus(engine)
    full = await engine.append(upload.id, 0, body(DATA), complete=False)
    assert full.offset == len(DATA) and not full.done
    assert (await engine.complete(upload.id)).done


async def test_a_second_append_at_once_is_locked_out(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiving, "APPEND_WAIT", 0.2)
    upload = await tus(engine)
    other = make_engine(tmp_path)
    await other.open()
    try:
        async with other.leases.holding(f"append:{upload.id}") as held:
            assert held is not None
            with pytest.raises(Locked) as raised:
                await engine.append(upload.id, 0, body(DATA))
        assert raised.value.details == {"uploadId": upload.id}
        assert (await engine.get(upload.id)).offset == 0
    finally:
        await other.close()


async def test_an_append_waits_for_one_that_is_letting_go(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cut a moment ago still holds the lease while it records what it kept; the
    client's resume at the offset it was just told waits for that instead of a 423."""
    upload = await tus(engine)
    await engine.append(upload.id, 0, body(DATA[:100]))  # what the cut request kept
    name = f"append:{upload.id}"
    requests = LeaseRequests(engine, name, monkeypatch)
    other = make_engine(tmp_path)
    await other.open()
    try:
        async with other.leases.holding(name) as held:  # the cut request, letting go
            assert held is not None
            resume = asyncio.create_task(engine.append(upload.id, 100, body(DATA[100:])))
            await requests.until_waiting(resume)
        done = await resume
        assert done.done and done.offset == len(DATA)
    finally:
        await other.close()


async def test_a_deferred_length_is_declared_once(engine: Engine) -> None:
    upload = await tus(engine, size=None)
    await engine.append(upload.id, 0, body(DATA[:100]))
    with pytest.raises(InvalidInput, match="length 99 is shorter than the 100 bytes received"):
        await engine.declare_length(upload.id, 99)
    declared = await engine.declare_length(upload.id, len(DATA))
    assert declared.size == len(DATA) and (await engine.get(upload.id)).size == len(DATA)
    assert (await engine.declare_length(upload.id, len(DATA))).size == len(DATA)  # no-op
    with pytest.raises(Conflict) as raised:
        await engine.declare_length(upload.id, len(DATA) + 1)
    assert raised.value.details == {"size": len(DATA)}
    done = await engine.append(upload.id, 100, body(DATA[100:]))
    assert done.done and done.hash == hashlib.md5(DATA).hexdigest()


@pytest.mark.parametrize("complete", [True, False])
async def test_declaring_the_length_of_every_received_byte_completes(
    engine: Engine, complete: bool
) -> None:
    upload = await tus(engine, size=None)
    await engine.append(upload.id, 0, body(DATA))
    declared = await engine.declare_length(upload.id, len(DATA), complete=complete)
    assert declared.done is complete
    assert (await engine.get(upload.id)).done is complete


async def test_ranges_of_any_size_and_order_complete_without_gaps(engine: Engine) -> None:
    """The flow.js family picks its own chunk sizes: ranges, not indexes."""
    upload = await task(engine)
    for start, length in [(0, -1), (-1, 1)]:
        with pytest.raises(WrongChunk):
            await engine.write_range(upload.id, start, length, body(b""))
    with pytest.raises(WrongChunk, match=f"bytes 3000..{len(DATA) + 1} are outside"):
        await engine.write_range(upload.id, 3000, len(DATA) - 2999, body(b""))
    with pytest.raises(WrongChunk) as raised:  # a range's body must fill it
        await engine.write_range(upload.id, 0, 700, body(DATA[:699]))
    assert raised.value.details == {"expectedSize": 700}
    wrong = Checksum("md5", hashlib.md5(b"other").digest())
    with pytest.raises(ChecksumMismatch):
        await engine.write_range(upload.id, 0, 700, body(DATA[:700]), checksum=wrong)
    empty = await engine.write_range(upload.id, 0, 0, body(b""))  # stores nothing, refuses nothing
    assert empty.segments == () and not empty.done
    pieces = [(1500, len(DATA)), (0, 700), (700, 1500)]
    for start, end in pieces:
        upload = await engine.write_range(upload.id, start, end - start, body(DATA[start:end]))
        assert upload.done is (end == 1500)
    assert upload.hash == hashlib.md5(DATA).hexdigest()
    read = b"".join([b async for b in engine.data.read(upload, 0, len(DATA))])
    assert read == DATA


async def test_only_the_owner_sends_bytes_and_completes_by_every_entry_point(
    engine: Engine,
) -> None:
    """Every path below re-reads the upload as its caller; none may do so as anonymous."""
    spec = TaskSpec(hashlib.md5(DATA).hexdigest(), "f", "x/y", len(DATA), chunk_size=CHUNK)
    by_chunk, _ = await engine.create_task(spec, owner="alice")
    other = DATA[::-1]  # the same bytes again would resume the first task
    by_range, _ = await engine.create_task(
        TaskSpec(hashlib.md5(other).hexdigest(), "f", "x/y", len(other)), owner="alice"
    )
    by_append, by_length = [
        await engine.new_upload(
            protocol="tus", owner="alice", file_name="f", file_type="", size=size
        )
        for size in (len(DATA), None)
    ]
    with pytest.raises(NotFound):
        await engine.write_chunk(by_chunk.id, 0, body(DATA[:CHUNK]), owner="bob")
    with pytest.raises(NotFound):
        await engine.write_range(by_range.id, 0, 10, body(DATA[:10]), owner="bob")
    with pytest.raises(NotFound):
        await engine.append(by_append.id, 0, body(DATA), owner="bob")
    with pytest.raises(NotFound):
        await engine.declare_length(by_length.id, len(DATA), owner="bob")
    for index in range(by_chunk.chunk_count):
        piece = DATA[index * CHUNK : (index + 1) * CHUNK]
        chunked = await engine.write_chunk(by_chunk.id, index, body(piece), owner="alice")
    ranged = await engine.write_range(by_range.id, 0, len(other), body(other), owner="alice")
    appended = await engine.append(by_append.id, 0, body(DATA), owner="alice")
    await engine.append(by_length.id, 0, body(DATA), owner="alice")
    declared = await engine.declare_length(by_length.id, len(DATA), owner="alice")
    for upload in (chunked, ranged, appended, declared):
        assert upload.done and upload.owner == "alice"


async def test_a_length_declared_before_any_byte_is_recorded_with_its_time(
    engine: Engine,
) -> None:
    empty, later = await tus(engine, size=None), await tus(engine, size=None)
    assert (await engine.declare_length(empty.id, 0)).done  # nothing to wait for
    declared = await engine.declare_length(later.id, len(DATA))
    stored = await engine.get(later.id)
    assert declared.updated_at == stored.updated_at > later.updated_at
    wrong = Checksum("md5", hashlib.md5(b"other").digest())
    with pytest.raises(ChecksumMismatch):
        await engine.append(later.id, 0, body(DATA), checksum=wrong)
    assert (await engine.get(later.id)).offset == 0


async def test_each_chunk_moves_the_expiry_forward(engine: Engine) -> None:
    """Unfinished uploads expire after their last activity, not after their creation."""
    upload = await task(engine)
    await engine.meta.update(upload.id, expires_at=utcnow() + timedelta(seconds=60))
    before = await engine.get(upload.id)
    after = await engine.write_chunk(upload.id, 0, body(DATA[:CHUNK]))
    assert after.updated_at > before.updated_at
    assert (
        after.expires_at is not None and after.expires_at >= after.updated_at + engine.limits.expiry
    )


async def test_a_refused_body_never_reaches_the_recorded_hash(engine: Engine) -> None:
    """A tus upload declares no hash, so nothing would catch a hash fed with refused bytes:
    the pump that saw them must be dropped."""
    upload = await tus(engine)
    zeros = b"\0" * len(DATA)
    with pytest.raises(ChecksumMismatch):
        await engine.append(upload.id, 0, body(zeros), checksum=Checksum("md5", md5(DATA)))
    done = await engine.append(upload.id, 0, body(DATA), checksum=Checksum("md5", md5(DATA)))
    assert done.done and done.hash == hashlib.md5(DATA).hexdigest()


async def test_counters_count_accepted_chunks_and_bytes_only(engine: Engine) -> None:
    upload = await task(engine)
    chunks, received = engine.counters["chunks_received"], engine.counters["bytes_received"]
    with pytest.raises(WrongChunk):
        await engine.write_chunk(upload.id, 0, body(DATA[: CHUNK - 1]))
    for index in (0, 3):
        await engine.write_chunk(upload.id, index, body(DATA[index * CHUNK :][:CHUNK]))
    assert engine.counters["chunks_received"] - chunks == 2
    assert engine.counters["bytes_received"] - received == CHUNK + 10
