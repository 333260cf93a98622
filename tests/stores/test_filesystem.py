"""Filesystem specifics beyond the DataStore contract."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.stores.conftest import make_upload
from tests.stores.test_data_store_contract import blocks, read_all
from upslice.errors import NotFound
from upslice.record import State
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


async def test_a_published_upload_not_yet_committed_reads_from_files(tmp_path: Path) -> None:
    """A crash between publishing (partial/ -> files/) and committing `complete` leaves a
    verifying record: recovery reads its bytes from files/, and names it when they are gone."""
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("v1", size=10, state=State.VERIFYING)
    upload = upload.evolve(store_state=await store.create(upload))
    await store.write(upload, 0, blocks(b"0123456789"), replace=False)
    await store.finish(upload)
    assert not (tmp_path / "data" / "partial" / "v1").exists()
    assert await read_all(store, upload, 2, 7) == b"23456"
    (tmp_path / "data" / "files" / "v1").unlink()
    with pytest.raises(NotFound) as gone:
        await read_all(store, upload, 0, 10)
    assert gone.value.details == {"uploadId": "v1"}


async def test_an_empty_upload_is_an_empty_file(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "data")
    await store.open()
    upload = make_upload("e0", size=0)
    await store.create(upload)
    await store.finish(upload)
    assert (tmp_path / "data" / "files" / "e0").read_bytes() == b""
