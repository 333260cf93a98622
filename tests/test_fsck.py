"""fsck's reading of every record, on a real SQLite MetaStore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.stores.conftest import make_upload
from upslice.fsck import all_records
from upslice.stores.sqlite import SqliteMetaStore


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqliteMetaStore]:
    store = SqliteMetaStore(tmp_path / "meta.db")
    await store.open()
    yield store
    await store.close()


async def test_paging_misses_no_record_even_when_many_share_a_creation_time(
    meta: SqliteMetaStore,
) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    times = [base] * 5 + [base + timedelta(seconds=1)] * 2 + [base - timedelta(seconds=1)] * 3
    for n, created in enumerate(times):
        await meta.insert(make_upload(f"u{n}", created_at=created, owner=f"owner{n % 3}"))
    for page in (1, 2, 3, 500):
        assert set(await all_records(meta, page)) == {f"u{n}" for n in range(len(times))}
