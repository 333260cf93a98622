"""What the S3 store holds, as `fsck` and `gc` see it without reading any record.

An open multipart upload and an upload's helper objects (incomplete parts, kept chunks) are
PARTIAL, a live upload's bytes, never "an interrupted write": gc must not take them from an
upload that is still receiving. Published objects are FILE.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from upslice.stores.base import StoredItem, StoredKind
from upslice.stores.s3_client import S3Location
from upslice.stores.s3_parts import list_keys, list_multipart, list_parts, multipart_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


async def inventory(client: S3Client, location: S3Location) -> AsyncIterator[StoredItem]:
    """Open multipart uploads and helper objects (PARTIAL) before finished files (FILE)."""
    bucket = location.bucket
    files = location.key("files/")
    async for item in list_multipart(client, bucket, files):
        upload_id = item["Key"].removeprefix(files)
        parts = await list_parts(client, bucket, item["Key"], item["UploadId"])
        yield StoredItem(
            upload_id=upload_id,
            kind=StoredKind.PARTIAL,
            key=f"multipart/{upload_id}/{item['UploadId']}",
            size=sum(int(p["Size"]) for p in parts),
            modified=_aware(item["Initiated"]),
        )
    pending = location.key("partial/")
    async for item in list_keys(client, bucket, pending):
        rest = item["Key"].removeprefix(pending)
        yield StoredItem(  # part of a live upload's bytes: never "an interrupted write"
            upload_id=rest.partition("/")[0],
            kind=StoredKind.PARTIAL,
            key=f"partial/{rest}",
            size=int(item["Size"]),
            modified=_aware(item["LastModified"]),
        )
    async for item in list_keys(client, bucket, files):
        upload_id = item["Key"].removeprefix(files)
        yield StoredItem(
            upload_id=upload_id,
            kind=StoredKind.FILE,
            key=f"files/{upload_id}",
            size=int(item["Size"]),
            modified=_aware(item["LastModified"]),
        )


async def discard(client: S3Client, location: S3Location, item: StoredItem) -> None:
    """Abort or delete exactly `item`; one already gone is not an error."""
    kind, _, rest = item.key.partition("/")
    if kind == "multipart":
        upload_id, _, mpu = rest.partition("/")
        key = multipart_key(location, upload_id)
        with contextlib.suppress(ClientError):
            await client.abort_multipart_upload(Bucket=location.bucket, Key=key, UploadId=mpu)
    elif kind in ("partial", "files") and rest and ".." not in rest.split("/"):
        await client.delete_object(Bucket=location.bucket, Key=location.key(item.key))
    else:
        raise ValueError(f"not an item of this store: {item.key!r}")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
