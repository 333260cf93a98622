"""Multipart bookkeeping for the S3 store: part numbers, spooled part bodies, listings.

A part covers one chunk: part n holds bytes [(n-1)*chunk, n*chunk). Tasks API chunks are
exactly one part each (re-sending a chunk re-uploads its part, which S3 swaps in atomically).
tus appends end anywhere: the bytes past the last full part wait in an "incomplete part"
object named after the part they will become (as in tusd's s3store), and the next append
prepends them. The object is named by part number, so a crash after a part was uploaded but
before the append was recorded never overwrites the tail that the recorded offset still needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from upslice.stores.s3_client import S3Location

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef

MiB = 1024 * 1024
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
READ_BLOCK = MiB


def multipart_key(location: S3Location, upload_id: str) -> str:
    """The final object's key; the multipart upload is opened under it from the start."""
    return location.key(f"files/{upload_id}")


def pending_prefix(location: S3Location, upload_id: str) -> str:
    """Where an upload's helper objects live: incomplete parts and kept copies."""
    return location.key(f"partial/{upload_id}/")


def tail_key(location: S3Location, upload_id: str, part_number: int) -> str:
    return f"{pending_prefix(location, upload_id)}part.{part_number}"


def copy_key(location: S3Location, upload_id: str, start: int) -> str:
    return f"{pending_prefix(location, upload_id)}copy.{start}"


async def list_parts(client: S3Client, bucket: str, key: str, mpu: str) -> list[dict[str, Any]]:
    """Every uploaded part, following ListParts' pages (1,000 parts a page)."""
    parts: list[dict[str, Any]] = []
    marker = 0
    while True:
        page = await client.list_parts(
            Bucket=bucket, Key=key, UploadId=mpu, PartNumberMarker=marker, MaxParts=1000
        )
        parts.extend(dict(part) for part in page.get("Parts", []))
        if not page.get("IsTruncated"):
            return parts
        marker = int(page["NextPartNumberMarker"])


async def list_keys(client: S3Client, bucket: str, prefix: str) -> AsyncIterator[dict[str, Any]]:
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield dict(item)


async def list_multipart(
    client: S3Client, bucket: str, prefix: str
) -> AsyncIterator[dict[str, Any]]:
    paginator = client.get_paginator("list_multipart_uploads")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Uploads", []):
            yield dict(item)


async def delete_keys(client: S3Client, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + 1000]]
        if batch:
            await client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


async def stream_object(
    client: S3Client, bucket: str, key: str, start: int, end: int
) -> AsyncIterator[bytes]:
    """Bytes [start, end) of an object, passing the range to S3 (never the whole object)."""
    if end <= start:
        return
    response = await client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")
    body = response["Body"]
    try:
        while True:
            block = await body.read(READ_BLOCK)
            if not block:
                return
            yield block
    finally:
        body.close()
