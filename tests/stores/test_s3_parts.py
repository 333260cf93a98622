"""The S3 helpers past one page, against moto's S3 server: ListParts and ListObjectsV2 return
at most 1,000 entries a page and DeleteObjects takes at most 1,000 keys, so an upload with more
parts or helpers than that must follow the pages instead of silently stopping at the first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from upslice.stores.s3 import S3Store
from upslice.stores.s3_parts import delete_keys, list_keys, list_parts

PAST_ONE_PAGE = 1_001
PAST_TWO_BATCHES = 2_001  # a batch started at each key rather than each 1,000th misses some


@pytest.fixture
def store(s3_store: S3Store) -> S3Store:
    return s3_store


async def in_batches(calls: list[Callable[[], Awaitable[object]]], width: int = 50) -> None:
    for start in range(0, len(calls), width):
        await asyncio.gather(*(call() for call in calls[start : start + width]))


async def test_list_parts_follows_every_page(store: S3Store) -> None:
    client, bucket, key = store.client, store.bucket, "paged/parts"
    mpu = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]

    def part(number: int) -> Callable[[], Awaitable[object]]:
        return lambda: client.upload_part(
            Bucket=bucket, Key=key, UploadId=mpu, PartNumber=number, Body=str(number).encode()
        )

    await in_batches([part(number) for number in range(1, PAST_ONE_PAGE + 1)])
    parts = await list_parts(client, bucket, key, mpu)
    assert [part["PartNumber"] for part in parts] == list(range(1, PAST_ONE_PAGE + 1))
    assert parts[-1]["Size"] == len(str(PAST_ONE_PAGE))


async def test_keys_are_listed_and_deleted_past_one_page(store: S3Store) -> None:
    client, bucket = store.client, store.bucket
    names = [f"paged/helpers/{number:05}" for number in range(PAST_TWO_BATCHES)]

    def put(name: str) -> Callable[[], Awaitable[object]]:
        return lambda: client.put_object(Bucket=bucket, Key=name, Body=b"x")

    await in_batches([put(name) for name in [*names, "paged/kept"]], width=100)
    listed = [item["Key"] async for item in list_keys(client, bucket, "paged/helpers/")]
    assert listed == names
    await delete_keys(client, bucket, listed)
    assert [item["Key"] async for item in list_keys(client, bucket, "paged/")] == ["paged/kept"]
    await delete_keys(client, bucket, [])  # nothing to delete sends nothing
