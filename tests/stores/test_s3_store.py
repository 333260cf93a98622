"""The S3 store's own edge cases, against moto's S3 server: what the shared contract and the
end-to-end tests cannot stage (a part gone at completion, a record that lost its multipart
upload id, a refused append, a race with another node, ranges at a kept copy's edges)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.stores.conftest import make_upload
from tests.stores.test_data_store_contract import blocks, created, failing_after, read_all
from upslice.errors import ChecksumMismatch, NotFound, StoreBusy, TooLarge
from upslice.record import State, Upload
from upslice.stores import s3 as s3_module
from upslice.stores.s3 import MPU, S3Store
from upslice.stores.s3_parts import (
    MIN_PART,
    READ_BLOCK,
    list_multipart,
    multipart_key,
    pending_prefix,
    tail_key,
)

UNIT = MIN_PART  # the smallest chunk S3 takes (every part but the last)


@pytest.fixture
def store(s3_store: S3Store) -> S3Store:
    return s3_store


async def new_upload(store: S3Store, upload_id: str, size: int | None) -> Upload:
    return await created(store, make_upload(upload_id, size=size, chunk_size=UNIT))


async def pending_names(store: S3Store, upload: Upload) -> list[str]:
    """The helper objects (tails, kept copies) of an upload, by name."""
    prefix = pending_prefix(store.location, upload.id)
    listing = await store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return sorted(item["Key"].removeprefix(prefix) for item in listing.get("Contents", []))


async def finished(store: S3Store, upload: Upload) -> Upload:
    upload = upload.evolve(state=State.COMPLETE)
    return upload.evolve(store_state=await store.finish(upload))


async def object_size(store: S3Store, upload: Upload) -> int | None:
    return await store._size(multipart_key(store.location, upload.id))  # the store's own HEAD


# ---- completion checks the parts ----------------------------------------------------------


async def test_a_part_missing_in_the_middle_stops_completion_and_names_the_parts(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "gap", 2 * UNIT + 3)
    await store.write(upload, 0, blocks(b"a" * UNIT), replace=False)
    await store.write(upload, 2 * UNIT, blocks(b"c" * 3), replace=False)  # part 2 never came
    with pytest.raises(NotFound) as refused:
        await finished(store, upload)
    assert refused.value.message == "some parts of the upload are missing in S3"
    assert refused.value.details == {"uploadId": "gap", "parts": [[1, UNIT], [3, 3]]}
    assert await object_size(store, upload) is None  # nothing was published


async def test_parts_numbered_in_order_but_short_of_the_length_stop_completion(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "short", 2 * UNIT + 3)
    await store.write(upload, 0, blocks(b"a" * UNIT), replace=False)
    await store.write(upload, UNIT, blocks(b"b" * UNIT), replace=False)  # part 3 never came
    with pytest.raises(NotFound) as refused:
        await finished(store, upload)
    assert refused.value.details["parts"] == [[1, UNIT], [2, UNIT]]


async def test_whole_parts_complete_with_the_length_known_or_not(store: S3Store) -> None:
    for upload_id, size in (("known", UNIT + 3), ("deferred", None)):
        upload = await new_upload(store, upload_id, size)
        await store.write(upload, 0, blocks(b"a" * UNIT), replace=False)
        await store.write(upload.evolve(size=UNIT + 3), UNIT, blocks(b"bcd"), replace=False)
        upload = await finished(store, upload)
        assert MPU not in upload.store_state  # the multipart upload is gone once completed
        assert await read_all(store, upload, UNIT - 1, UNIT + 3) == b"abcd"


async def test_a_deferred_length_upload_flushes_its_buffered_tail_at_completion(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "deferred-tail", None)
    await store.write(upload, 0, blocks(b"012"), replace=False)  # below a part: a tail
    await store.write(upload, 3, blocks(b"3456"), replace=False)  # the tail read, and longer
    assert await pending_names(store, upload) == ["part.1"]
    upload = await finished(store, upload.evolve(size=7))
    assert await read_all(store, upload, 0, 7) == b"0123456"
    assert await pending_names(store, upload) == []
    assert store.stats() == {  # what /metrics shows: 3 B, then 7 B, of tails read back
        "s3_tail_bytes_read": 10,
        "s3_parts_uploaded": 1,
        "s3_bytes_read_back": 0,
    }


async def test_an_empty_file_is_an_empty_object(store: S3Store) -> None:
    upload = await finished(store, await new_upload(store, "empty", 0))
    assert await object_size(store, upload) == 0
    assert await read_all(store, upload, 0, 0) == b""


# ---- the multipart upload of a record that does not name it --------------------------------


async def test_a_record_without_its_multipart_upload_id_finds_it_by_its_key(
    store: S3Store,
) -> None:
    neighbour = await new_upload(store, "lost10", UNIT + 1)  # its key starts with lost1's
    upload = await new_upload(store, "lost1", UNIT + 1)
    await store.write(neighbour, 0, blocks(b"n" * (UNIT + 1)), replace=False)
    forgetful = upload.evolve(store_state={})  # a crash before the record saved the id
    await store.write(forgetful, 0, blocks(b"x" * (UNIT + 1)), replace=False)
    done = await finished(store, forgetful)
    assert await read_all(store, done, UNIT - 1, UNIT + 1) == b"xx"
    neighbour = await finished(store, neighbour)
    assert await read_all(store, neighbour, UNIT - 1, UNIT + 1) == b"nn"


async def test_a_record_whose_multipart_upload_is_gone_is_a_clear_not_found(
    store: S3Store,
) -> None:
    upload = make_upload("never-created", size=UNIT, chunk_size=UNIT)
    with pytest.raises(NotFound) as gone:
        await store.write(upload, 0, blocks(b"x" * UNIT), replace=False)
    assert gone.value.message == "the upload's data is gone"
    assert gone.value.details == {"uploadId": "never-created"}


async def test_the_ten_thousandth_part_is_s3s_last(store: S3Store) -> None:
    last = (10_000 - 1) * UNIT  # only offsets: no byte before them is sent
    upload = await new_upload(store, "many-parts", last + 4)
    assert await store.write(upload, last, blocks(b"last"), replace=False) == 4
    beyond = await new_upload(store, "too-many-parts", last + UNIT + 4)
    with pytest.raises(TooLarge, match="10000 parts"):
        await store.write(beyond, last + UNIT, blocks(b"more"), replace=False)


# ---- tails of tus appends ----------------------------------------------------------------


async def test_a_loaded_tail_drops_the_older_ones_and_a_refused_append_keeps_its_own(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "tails", 2 * UNIT)
    await store.write(upload, 0, blocks(b"abc"), replace=False)
    await store.write(upload, 3, blocks(b"d" * UNIT), replace=False)  # part 1 up, 3 B aside
    assert await pending_names(store, upload) == ["part.1", "part.2"]  # part.1 kept: a crash
    await store.write(upload, UNIT + 3, blocks(b"ef"), replace=False)  # may still need it
    assert await pending_names(store, upload) == ["part.2"]
    with pytest.raises(ChecksumMismatch):
        await store.write(upload, UNIT + 5, failing_after(b"x" * 10), replace=False)
    assert await pending_names(store, upload) == ["part.2"]  # still what offset UNIT+5 needs
    rest = UNIT - 5
    assert await store.write(upload, UNIT + 5, blocks(b"g" * rest), replace=False) == rest
    upload = await finished(store, upload)
    expected = b"abc" + b"d" * (UNIT - 3) + b"ddd" + b"ef" + b"g" * rest
    assert await read_all(store, upload, 0, 2 * UNIT) == expected
    assert store.stats()["s3_tail_bytes_read"] == 3 + 3 + 5 + 5  # each load, the refused too
    assert store.stats()["s3_parts_uploaded"] == 2


# ---- reading kept copies and the finished object ------------------------------------------


async def kept(store: S3Store, upload: Upload, start: int, content: bytes) -> None:
    await store.keep_copy(upload, start, blocks(content))


async def test_kept_copies_are_read_across_their_boundary_and_inside_one(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "copies", 30)
    await kept(store, upload, 0, b"0123456789")
    await kept(store, upload, 10, b"abcdefghij")
    assert await read_all(store, upload, 0, 20) == b"0123456789abcdefghij"
    assert await read_all(store, upload, 12, 15) == b"cde"  # a range inside the second copy
    with pytest.raises(NotFound) as unread:
        await read_all(store, upload, 15, 25)  # bytes 20 to 25 were never kept
    assert unread.value.message == "S3 cannot read an unfinished upload's parts back"
    assert unread.value.details == {"uploadId": "copies"}
    assert store.stats()["s3_bytes_read_back"] == 20 + 3 + 5


async def test_a_verifying_upload_not_yet_published_reads_its_kept_copies(
    store: S3Store,
) -> None:
    upload = await new_upload(store, "verifying", 10)
    await kept(store, upload, 0, b"0123456789")
    verifying = upload.evolve(state=State.VERIFYING)
    assert await read_all(store, verifying, 2, 6) == b"2345"
    complete = upload.evolve(state=State.COMPLETE)  # complete but never published: lost
    with pytest.raises(NotFound, match=r"the upload's data is gone \(reading the file\)"):
        await read_all(store, complete, 2, 6)  # not served from the copies as if it were


async def test_reads_come_in_bounded_blocks_and_an_empty_range_is_empty(store: S3Store) -> None:
    size = 2 * READ_BLOCK + 5
    upload = await new_upload(store, "blocks", size)
    await store.write(upload, 0, blocks(b"z" * size), replace=False)
    upload = await finished(store, upload)
    pieces = [block async for block in store.read(upload, 0, size)]
    assert b"".join(pieces) == b"z" * size
    assert max(len(piece) for piece in pieces) <= READ_BLOCK  # never the whole object at once
    assert await read_all(store, upload, 7, 7) == b""


# ---- deleting ----------------------------------------------------------------------------


async def test_delete_removes_the_object_and_every_helper(store: S3Store) -> None:
    upload = await new_upload(store, "doomed", 10)
    await kept(store, upload, 0, b"0123456789")
    await store.write(upload, 0, blocks(b"0123456789"), replace=False)
    upload = await finished(store, upload)
    await store.delete(upload)
    assert await object_size(store, upload) is None
    assert await pending_names(store, upload) == []


async def test_a_multipart_upload_aborted_by_another_node_meanwhile_is_not_an_error(
    store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = await new_upload(store, "raced", UNIT + 1)

    async def aborted_once_listed(*args: Any) -> AsyncIterator[dict[str, Any]]:
        async for item in list_multipart(*args):
            await store.client.abort_multipart_upload(
                Bucket=store.bucket, Key=item["Key"], UploadId=item["UploadId"]
            )
            yield item

    monkeypatch.setattr(s3_module, "list_multipart", aborted_once_listed)
    await store.delete(upload)
    monkeypatch.undo()
    uploads = await store.client.list_multipart_uploads(
        Bucket=store.bucket, Prefix=multipart_key(store.location, upload.id)
    )
    assert uploads.get("Uploads", []) == []


async def test_an_upload_completed_by_sharing_drops_only_what_it_received(
    store: S3Store,
) -> None:
    source = await new_upload(store, "source", 10)
    await store.write(source, 0, blocks(b"0123456789"), replace=False)
    source = await finished(store, source)
    adopter = await new_upload(store, "adopter", 10)  # proved it holds the same file
    await kept(store, adopter, 0, b"01234")
    await store.write(adopter, 0, blocks(b"01234"), replace=False)  # a tail, a kept copy, an MPU
    assert await pending_names(store, adopter) == ["copy.0", "part.1"]
    adopted = adopter.evolve(state=State.COMPLETE, store_state=await store.share(source, adopter))
    await store.drop_received(adopter)
    assert await pending_names(store, adopter) == []
    uploads = await store.client.list_multipart_uploads(
        Bucket=store.bucket, Prefix=multipart_key(store.location, adopter.id)
    )
    assert uploads.get("Uploads", []) == []
    assert await read_all(store, adopted, 0, 10) == b"0123456789"  # its shared bytes stay
    assert await read_all(store, source, 0, 10) == b"0123456789"
    await store.drop_received(adopter)  # redone after a crash: nothing left is not an error


# ---- what a failing S3 call becomes --------------------------------------------------------


async def test_a_tail_shorter_than_recorded_or_gone_is_a_clear_not_found(store: S3Store) -> None:
    upload = await new_upload(store, "lost-tail", 2 * UNIT)
    await store.write(upload, 0, blocks(b"abc"), replace=False)
    key = tail_key(store.location, upload.id, 1)
    await store.client.put_object(Bucket=store.bucket, Key=key, Body=b"ab")  # cut short
    with pytest.raises(NotFound) as short:
        await store.write(upload, 3, blocks(b"d"), replace=False)
    assert short.value.message == "the upload's buffered tail is gone"
    assert short.value.details == {"uploadId": "lost-tail"}
    await store.client.delete_object(Bucket=store.bucket, Key=key)
    with pytest.raises(NotFound) as gone:
        await store.write(upload, 3, blocks(b"d"), replace=False)
    assert gone.value.message == "the upload's data is gone (reading the incomplete part)"


Arm = Callable[[str], None]  # makes the named S3 operation fail from then on


async def starting(store: S3Store, fail: Arm) -> None:
    fail("CreateMultipartUpload")
    await new_upload(store, "starting", UNIT)


async def uploading_a_part(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "part", UNIT)
    fail("UploadPart")
    await store.write(upload, 0, blocks(b"p" * UNIT), replace=False)


async def storing_a_tail(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "tail", UNIT)
    fail("PutObject")
    await store.write(upload, 0, blocks(b"abc"), replace=False)


async def reading_a_tail(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "tail", UNIT)
    await store.write(upload, 0, blocks(b"abc"), replace=False)
    fail("GetObject")
    await store.write(upload, 3, blocks(b"d"), replace=False)


async def keeping_a_copy(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "copy", 10)
    fail("PutObject")
    await kept(store, upload, 0, b"0123456789")


async def reading_a_copy(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "copy", 10)
    await kept(store, upload, 0, b"0123456789")
    fail("GetObject")
    await read_all(store, upload, 0, 10)


async def completing(store: S3Store, fail: Arm) -> None:
    upload = await new_upload(store, "complete", 3)
    await store.write(upload, 0, blocks(b"abc"), replace=False)
    fail("CompleteMultipartUpload")
    await finished(store, upload)


async def copying(store: S3Store, fail: Arm) -> None:
    source = await finished(store, await new_upload(store, "source", 0))
    fail("CopyObject")
    await store.share(source, await new_upload(store, "target", 0))


async def deleting(store: S3Store, fail: Arm) -> None:
    upload = await finished(store, await new_upload(store, "deleted", 0))
    fail("DeleteObject")
    await store.delete(upload)


@pytest.mark.parametrize(
    ("scenario", "what"),
    [
        (starting, "starting the multipart upload"),
        (uploading_a_part, "uploading a part"),
        (storing_a_tail, "storing the incomplete part"),
        (reading_a_tail, "reading the incomplete part"),
        (keeping_a_copy, "keeping a chunk for the hash"),
        (reading_a_copy, "reading a kept chunk"),
        (completing, "completing the multipart upload"),
        (copying, "copying the file"),
        (deleting, "deleting the file"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
async def test_a_throttled_s3_call_is_a_503_that_names_the_step(
    store: S3Store,
    scenario: Callable[[S3Store, Arm], Awaitable[None]],
    what: str,
) -> None:
    def fail(operation: str) -> None:
        def slow_down(**_: object) -> None:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, operation)

        store.client.meta.events.register(f"before-call.s3.{operation}", slow_down)

    with pytest.raises(StoreBusy) as busy:
        await scenario(store, fail)
    assert busy.value.message == f"object storage is throttling requests ({what}); retry shortly"
