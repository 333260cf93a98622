"""Filesystem specifics beyond the DataStore contract."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from upslice.stores.base import StoredItem, StoredKind
from upslice.stores.filesystem import FilesystemStore


@pytest.mark.parametrize("key", ["../meta.db", "partial/../../x", "files/", "elsewhere/id"])
async def test_discard_refuses_keys_outside_its_folders(tmp_path: Path, key: str) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    (tmp_path / "x").write_bytes(b"keep")
    item = StoredItem("id", StoredKind.PARTIAL, key, 0, datetime.now(UTC))
    with pytest.raises(ValueError, match="not an item of this store"):
        await store.discard(item)
    assert (tmp_path / "x").exists()


async def test_staging_items_name_their_upload(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    (tmp_path / "data" / "staging" / "abc.0123").write_bytes(b"12345")
    await store.open()  # reopening never wipes them: another process may be writing
    [item] = [item async for item in store.stored()]
    assert (item.upload_id, item.kind, item.key, item.size) == (
        "abc",
        StoredKind.STAGING,
        "staging/abc.0123",
        5,
    )
