"""A create whose record insert fails must not leave its bytes behind.

The failure is a real one: a trigger in the SQLite file refuses every insert, as a full disk
or a broken database would, while the engine's own connection stays open.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from upslice.engine import Engine, Limits, TaskSpec
from upslice.errors import InsufficientStorage
from upslice.fsck import check
from upslice.stores.filesystem import FilesystemStore
from upslice.stores.sqlite import SqliteMetaStore

REFUSED = (sqlite3.DatabaseError, InsufficientStorage)  # a store may call it a full disk
REFUSE = (
    "CREATE TRIGGER refuse_inserts BEFORE INSERT ON uploads "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(
        FilesystemStore(tmp_path / "data"),
        SqliteMetaStore(tmp_path / "meta.db"),
        Limits(min_chunk_size=1024),
    )
    await engine.open()
    yield engine
    await engine.close()


def refuse_inserts(database: Path) -> None:
    with sqlite3.connect(database) as db:
        db.execute(REFUSE)
    db.close()


def spec_for(data: bytes) -> TaskSpec:
    return TaskSpec(
        hash=hashlib.md5(data).hexdigest(),
        file_name="f.bin",
        file_type="application/octet-stream",
        file_size=len(data),
        chunk_size=1024,
    )


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_a_failed_insert_frees_the_reserved_bytes(engine: Engine, tmp_path: Path) -> None:
    refuse_inserts(tmp_path / "meta.db")
    with pytest.raises(REFUSED):
        await engine.create_task(spec_for(b"x" * 3000))
    assert names(tmp_path / "data" / "partial") == []
    assert (await check(engine.data, engine.meta, grace=timedelta(0))).findings == []


async def test_a_failed_instant_upload_frees_its_shared_copy(
    engine: Engine, tmp_path: Path
) -> None:
    data = b"y" * 1000
    first, _ = await engine.create_task(spec_for(data))
    first = await engine.write_chunk(first.id, 0, body(data))
    assert first.done
    refuse_inserts(tmp_path / "meta.db")
    with pytest.raises(REFUSED):
        await engine.create_task(spec_for(data))  # the same owner: instant at once
    assert names(tmp_path / "data" / "files") == [first.id]
    assert (await check(engine.data, engine.meta, grace=timedelta(0))).findings == []
