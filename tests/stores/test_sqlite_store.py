"""What only the SQLite MetaStore does: it makes its own directory."""

from __future__ import annotations

from pathlib import Path

from tests.stores.conftest import make_upload
from upslice.stores.sqlite import SqliteMetaStore


async def test_open_creates_the_directories_of_a_new_database(tmp_path: Path) -> None:
    """`serve --data-dir` may name a directory that does not exist yet, parents included."""
    store = SqliteMetaStore(tmp_path / "new" / "data" / "meta.db")
    await store.open()
    try:
        await store.insert(make_upload("a"))
        assert await store.get("a") is not None
    finally:
        await store.close()
    assert (tmp_path / "new" / "data" / "meta.db").is_file()
