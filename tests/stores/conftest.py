"""Every backend of a kind passes the same contract: add a backend to these lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from upslice.record import State, Upload
from upslice.stores.base import DataStore, MetaStore
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore

DATA_BACKENDS = ["filesystem"]
META_BACKENDS = ["sqlite"]


@pytest.fixture(params=DATA_BACKENDS)
async def data_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DataStore]:
    store: DataStore
    if request.param == "filesystem":
        store = FilesystemStore(tmp_path / "data", fsync=True)
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=META_BACKENDS)
async def meta_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetaStore]:
    store: MetaStore
    if request.param == "sqlite":
        store = SqliteMetaStore(tmp_path / "meta.db")
    await store.open()
    yield store
    await store.close()


def make_upload(upload_id: str, size: int = 100, **changes: object) -> Upload:
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
