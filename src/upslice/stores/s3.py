"""S3 DataStore: an upload is a multipart upload, its chunks are parts, finishing completes it.

Layout in the bucket, under the configured prefix:
  files/<id>                 the multipart upload while receiving, the finished object after
  partial/<id>/part.<n>      a tus append's tail below a part boundary (an "incomplete part")
  partial/<id>/copy.<start>  a chunk kept for the whole-file hash when it could not be hashed
                             at once (see engine/spooled.py); the only bytes ever read back
S3 cannot read the parts of an unfinished multipart upload, so `read` of an unfinished upload
serves kept copies only; the engine hashes bytes as they arrive instead (`can_read_partial`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from upslice.crashpoints import crash_point
from upslice.errors import NotFound, TooLarge
from upslice.record import State, Upload
from upslice.spool import Spool
from upslice.stores.base import DataStore, StoredItem
from upslice.stores.s3_client import S3Location, check_bucket, connect, missing, s3_errors
from upslice.stores.s3_inventory import discard, inventory
from upslice.stores.s3_parts import (
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    copy_key,
    delete_keys,
    list_keys,
    list_multipart,
    list_parts,
    multipart_key,
    pending_prefix,
    stream_object,
    tail_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

MPU = "multipartUploadId"  # in store_state


class S3Store(DataStore):
    name = "s3"
    min_chunk_size = MIN_PART
    max_chunk_size = MAX_PART
    max_chunks = MAX_PARTS
    can_read_partial = False

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self.bucket = location.bucket
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self.counters = {"s3_bytes_read_back": 0, "s3_tail_bytes_read": 0, "s3_parts_uploaded": 0}

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("the S3 store is not open")
        return self._client

    async def open(self) -> None:
        self._client = await self._stack.enter_async_context(connect(self.location))
        await check_bucket(self._client, self.location)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    # ---- receiving ---------------------------------------------------------------------

    async def create(self, upload: Upload) -> dict[str, str]:
        key = multipart_key(self.location, upload.id)
        with s3_errors("starting the multipart upload"):
            response = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        return {MPU: response["UploadId"]}

    async def _mpu(self, upload: Upload) -> str:
        mpu = upload.store_state.get(MPU)
        if mpu:
            return mpu
        key = multipart_key(self.location, upload.id)
        async for item in list_multipart(self.client, self.bucket, key):
            if item["Key"] == key:
                return str(item["UploadId"])
        raise NotFound("the upload's data is gone", uploadId=upload.id)

    async def write(
        self, upload: Upload, offset: int, blocks: AsyncIterator[bytes], *, replace: bool
    ) -> int:
        """Fill parts from `offset` on; a part goes up once whole (or the upload's last),
        so a refused body never replaces an acknowledged part; a short tail is kept aside."""
        chunk = upload.chunk_size
        number, base = offset // chunk + 1, offset - offset % chunk
        mpu = await self._mpu(upload)
        spool = Spool()
        written = 0
        try:
            if offset > base:
                await self._load_tail(upload, number, offset - base, spool)
            async for block in blocks:
                view = memoryview(block)
                while view:
                    if spool.size == chunk:  # a full part goes up only once more bytes came:
                        await self._upload_part(upload, mpu, number, spool)  # the body's end
                        spool.close()  # may still refuse it (checksum), sparing the old part
                        spool, number = Spool(), number + 1
                    room = chunk - spool.size
                    spool.write(bytes(view[:room]))
                    written += min(room, len(view))
                    view = view[room:]
            end = offset + written
            if spool.size == chunk or (spool.size and end == upload.size):
                await self._upload_part(upload, mpu, number, spool)  # the last part may be short
            elif spool.size:
                await self._put_tail(upload, number, spool)
        finally:
            spool.close()
        return written

    async def _upload_part(self, upload: Upload, mpu: str, number: int, spool: Spool) -> None:
        if number > MAX_PARTS:
            raise TooLarge(f"the upload exceeds S3's {MAX_PARTS} parts of {upload.chunk_size} B")
        key = multipart_key(self.location, upload.id)
        with s3_errors("uploading a part"):
            await self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=mpu,
                PartNumber=number,
                Body=spool.body(),
                ContentLength=spool.size,
            )
        self.counters["s3_parts_uploaded"] += 1
        crash_point("s3:part-uploaded")

    async def _load_tail(self, upload: Upload, number: int, length: int, spool: Spool) -> None:
        key = tail_key(self.location, upload.id, number)
        with s3_errors("reading the incomplete part"):
            async for block in stream_object(self.client, self.bucket, key, 0, length):
                spool.write(block)
        if spool.size != length:
            raise NotFound("the upload's buffered tail is gone", uploadId=upload.id)
        self.counters["s3_tail_bytes_read"] += length
        await self._drop_tails(upload, below=number)  # their appends are recorded by now

    async def _put_tail(self, upload: Upload, number: int, spool: Spool) -> None:
        key = tail_key(self.location, upload.id, number)
        with s3_errors("storing the incomplete part"):
            await self.client.put_object(
                Bucket=self.bucket, Key=key, Body=spool.body(), ContentLength=spool.size
            )

    async def _drop_tails(self, upload: Upload, *, below: int) -> None:
        prefix = f"{pending_prefix(self.location, upload.id)}part."
        stale = [
            item["Key"]
            async for item in list_keys(self.client, self.bucket, prefix)
            if int(item["Key"].rsplit(".", 1)[1]) < below
        ]
        await delete_keys(self.client, self.bucket, stale)

    async def keep_copy(self, upload: Upload, start: int, blocks: AsyncIterator[bytes]) -> None:
        spool = Spool()
        try:
            async for block in blocks:
                spool.write(block)
            with s3_errors("keeping a chunk for the hash"):
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=copy_key(self.location, upload.id, start),
                    Body=spool.body(),
                    ContentLength=spool.size,
                )
        finally:
            spool.close()

    # ---- reading -----------------------------------------------------------------------

    async def read(self, upload: Upload, start: int, end: int) -> AsyncIterator[bytes]:
        key = multipart_key(self.location, upload.id)
        if upload.state in (State.COMPLETE, State.VERIFYING):
            try:  # a crash between publishing and committing leaves it verifying, published
                with s3_errors("reading the file"):
                    async for block in stream_object(self.client, self.bucket, key, start, end):
                        yield block
                return
            except NotFound:
                if upload.state is State.COMPLETE:
                    raise
        async for block in self._read_copies(upload, start, end):
            yield block

    async def _read_copies(self, upload: Upload, start: int, end: int) -> AsyncIterator[bytes]:
        """Unfinished bytes exist only where a chunk was kept aside for the hash."""
        copies = {}
        prefix = f"{pending_prefix(self.location, upload.id)}copy."
        async for item in list_keys(self.client, self.bucket, prefix):
            copies[int(item["Key"].rsplit(".", 1)[1])] = (item["Key"], int(item["Size"]))
        position = start
        while position < end:
            found = next(((s, k, n) for s, (k, n) in copies.items() if s <= position < s + n), None)
            if found is None:
                raise NotFound(
                    "S3 cannot read an unfinished upload's parts back", uploadId=upload.id
                )
            first, key, size = found
            stop = min(end, first + size)
            with s3_errors("reading a kept chunk"):
                span = (position - first, stop - first)
                async for block in stream_object(self.client, self.bucket, key, *span):
                    self.counters["s3_bytes_read_back"] += len(block)
                    yield block
            position = stop

    # ---- finishing ---------------------------------------------------------------------

    async def finish(self, upload: Upload) -> dict[str, str]:
        """CompleteMultipartUpload; redoable: an already completed upload is left as it is."""
        key = multipart_key(self.location, upload.id)
        state = {k: v for k, v in upload.store_state.items() if k != MPU}
        if await self._exists(key):
            await self._drop_pending(upload)
            return state
        mpu = await self._mpu(upload)
        with s3_errors("completing the multipart upload"):
            await self._flush_last_tail(upload, mpu)
            parts = await list_parts(self.client, self.bucket, key, mpu)
            if not parts:  # an empty file: S3 refuses a multipart upload without parts
                await self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
                await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=mpu)
            else:
                self._check_parts(upload, parts)
                done: list[CompletedPartTypeDef] = [
                    {"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts
                ]
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=mpu, MultipartUpload={"Parts": done}
                )
        await self._drop_pending(upload)
        return state

    async def _flush_last_tail(self, upload: Upload, mpu: str) -> None:
        """A deferred-length tus upload's last bytes still wait as an incomplete part."""
        if upload.size is None or upload.size % upload.chunk_size == 0:
            return
        number = upload.size // upload.chunk_size + 1
        length = upload.size % upload.chunk_size
        key = tail_key(self.location, upload.id, number)
        if await self._size(key) != length:  # none, or an older tail: the append that
            return  # reached the end uploaded the last part itself
        spool = Spool()
        try:
            async for block in stream_object(self.client, self.bucket, key, 0, length):
                spool.write(block)
            self.counters["s3_tail_bytes_read"] += spool.size
            await self._upload_part(upload, mpu, number, spool)
        finally:
            spool.close()

    @staticmethod
    def _check_parts(upload: Upload, parts: list[dict[str, Any]]) -> None:
        numbers = [int(p["PartNumber"]) for p in parts]
        if numbers != list(range(1, len(numbers) + 1)) or (
            upload.size is not None and sum(int(p["Size"]) for p in parts) != upload.size
        ):
            raise NotFound(
                "some parts of the upload are missing in S3",
                uploadId=upload.id,
                parts=[[int(p["PartNumber"]), int(p["Size"])] for p in parts],
            )

    async def _exists(self, key: str) -> bool:
        return await self._size(key) is not None

    async def _size(self, key: str) -> int | None:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def share(self, source: Upload, target: Upload) -> dict[str, str]:
        """A server-side copy: each task owns its object, so deleting one keeps the other."""
        with s3_errors("copying the file"):
            await self.client.copy_object(
                Bucket=self.bucket,
                Key=multipart_key(self.location, target.id),
                CopySource={"Bucket": self.bucket, "Key": multipart_key(self.location, source.id)},
            )
        return {}

    async def drop_received(self, upload: Upload) -> None:
        await self._abort(upload)
        await self._drop_pending(upload)

    async def delete(self, upload: Upload) -> None:
        await self._abort(upload)
        await self._drop_pending(upload)
        with s3_errors("deleting the file"):
            await self.client.delete_object(
                Bucket=self.bucket, Key=multipart_key(self.location, upload.id)
            )

    async def _abort(self, upload: Upload) -> None:
        key = multipart_key(self.location, upload.id)
        async for item in list_multipart(self.client, self.bucket, key):
            if item["Key"] == key:
                with contextlib.suppress(ClientError):  # aborted meanwhile
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=item["UploadId"]
                    )

    async def _drop_pending(self, upload: Upload) -> None:
        prefix = pending_prefix(self.location, upload.id)
        keys = [item["Key"] async for item in list_keys(self.client, self.bucket, prefix)]
        await delete_keys(self.client, self.bucket, keys)

    # ---- fsck (s3_inventory.py) ---------------------------------------------------------

    async def stored(self) -> AsyncIterator[StoredItem]:
        async for item in inventory(self.client, self.location):
            yield item

    async def discard(self, item: StoredItem) -> None:
        await discard(self.client, self.location, item)
