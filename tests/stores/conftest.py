"""Every backend of a kind passes the same contract: add a backend to these lists."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.s3_server import CREDENTIALS, MotoServer
from upslice.record import State, Upload
from upslice.stores.base import DataStore, MetaStore
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore

if TYPE_CHECKING:
    from upslice.stores.s3 import S3Store

DATA_BACKENDS = ["filesystem", "s3"]
# sqlite-fsync is `serve --fsync`: every write goes through aiosqlite's thread (the loop-thread
# writer is off), so that path passes the same contract.
META_BACKENDS = ["sqlite", "sqlite-fsync", "postgresql"]


@pytest.fixture(params=DATA_BACKENDS)
async def data_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DataStore]:
    store: DataStore
    if request.param == "filesystem":
        store = FilesystemStore(tmp_path / "data", fsync=True)
    elif request.param == "s3":
        store = new_s3_store(request.getfixturevalue("moto_s3"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def s3_store(moto_s3: MotoServer) -> AsyncIterator[S3Store]:
    """An open S3 store on a fresh bucket, for tests of the S3 store's own behaviour."""
    store = new_s3_store(moto_s3)
    await store.open()
    yield store
    await store.close()


def new_s3_store(moto: MotoServer) -> S3Store:
    """An unopened S3 store on a fresh bucket of the session's moto server."""
    from upslice.stores.s3 import S3Store
    from upslice.stores.s3_client import S3Location

    for name, value in CREDENTIALS.items():  # botocore's standard chain reads these
        os.environ.setdefault(name, value)
    url = f"s3://{moto.new_bucket()}/contract"
    return S3Store(S3Location.parse(url, endpoint=moto.url, path_style=True))


def new_meta_store(request: pytest.FixtureRequest, tmp_path: Path) -> MetaStore:
    """An unopened store of the requested backend; two calls in one test share one database."""
    if request.param == "sqlite":
        return SqliteMetaStore(tmp_path / "meta.db")
    if request.param == "sqlite-fsync":
        return SqliteMetaStore(tmp_path / "meta.db", synchronous_full=True)
    if request.param == "postgresql":
        from upslice.stores.postgres import PostgresMetaStore

        return PostgresMetaStore(request.getfixturevalue("postgres_dsn"))
    raise ValueError(f"unknown MetaStore backend {request.param!r}")


@pytest.fixture(params=META_BACKENDS)
async def meta_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetaStore]:
    store = new_meta_store(request, tmp_path)
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=META_BACKENDS)
async def meta_store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[MetaStore, MetaStore]]:
    """Two stores on one database, as two processes or nodes would have."""
    first, second = (new_meta_store(request, tmp_path) for _ in range(2))
    await first.open()
    await second.open()
    yield first, second
    await second.close()
    await first.close()


def make_upload(upload_id: str, size: int | None = 100, **changes: object) -> Upload:
    now = datetime.now(UTC)
    upload = Upload(
        id=upload_id,
        protocol="tasks",
        owner=None,
        file_name="f.bin",
        file_type="application/octet-stream",
        size=size,
        hash_algorithm="md5",
        hash="0" * 32,
        chunk_size=10,
        state=State.RECEIVING,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(hours=1),
    )
    return upload.evolve(**changes)
