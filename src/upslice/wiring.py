"""The only place that knows which backends exist: settings in, an engine out."""

from __future__ import annotations

from datetime import timedelta

from upslice.engine import Engine, Limits
from upslice.settings import Settings
from upslice.stores.base import DataStore, MetaStore


def build_data_store(settings: Settings) -> DataStore:
    from upslice.stores.filesystem import FilesystemStore

    return FilesystemStore(settings.data_dir, fsync=settings.fsync)


def build_meta_store(settings: Settings) -> MetaStore:
    url = settings.database_url
    if url is None or url.startswith("sqlite:"):
        from pathlib import Path

        from upslice.stores.sqlite import SqliteMetaStore

        path = Path(url.removeprefix("sqlite:///")) if url else settings.sqlite_path
        return SqliteMetaStore(path, synchronous_full=settings.fsync)
    raise ValueError(f"unsupported database_url {url!r} (expected sqlite:///path)")


def build_engine(settings: Settings) -> Engine:
    limits = Limits(
        min_chunk_size=settings.min_chunk_size,
        default_chunk_size=settings.default_chunk_size,
        max_chunk_size=settings.max_chunk_size,
        max_file_size=settings.max_file_size,
        expiry=timedelta(seconds=settings.expiry_seconds),
    )
    return Engine(build_data_store(settings), build_meta_store(settings), limits)
