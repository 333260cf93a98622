"""The only place that knows which backends exist: settings in, an engine out."""

from __future__ import annotations

from datetime import timedelta

from upslice.engine import Engine, Limits
from upslice.settings import Settings
from upslice.stores.base import DataStore, MetaStore


def build_data_store(settings: Settings) -> DataStore:
    from upslice.stores.filesystem import FilesystemStore

    if settings.store is not None and settings.store.startswith("s3:"):
        from upslice.stores.s3 import S3Store
        from upslice.stores.s3_client import S3Location

        location = S3Location.parse(
            settings.store,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            path_style=settings.s3_path_style,
            max_attempts=settings.s3_max_attempts,
        )
        return S3Store(location)
    if settings.store is not None:
        raise ValueError(f"unsupported store {settings.store!r} (expected s3://bucket/prefix)")

    return FilesystemStore(settings.data_dir, fsync=settings.fsync)


def build_meta_store(settings: Settings) -> MetaStore:
    url = settings.database_url
    if url is None or url.startswith("sqlite:"):
        from pathlib import Path

        from upslice.stores.sqlite import SqliteMetaStore

        path = Path(url.removeprefix("sqlite:///")) if url else settings.sqlite_path
        return SqliteMetaStore(path, synchronous_full=settings.fsync)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from upslice.stores.postgres import PostgresMetaStore
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise RuntimeError(
                "a postgresql:// database_url needs asyncpg: pip install 'upslice[postgres]'"
            ) from exc
        return PostgresMetaStore(url)
    scheme = url.split(":", 1)[0]  # never echo the rest: it may hold a password
    raise ValueError(
        f"unsupported database_url scheme {scheme!r} "
        "(expected sqlite:///path or postgresql://user@host/db)"
    )


def build_engine(settings: Settings) -> Engine:
    limits = Limits(
        min_chunk_size=settings.min_chunk_size,
        default_chunk_size=settings.default_chunk_size,
        max_chunk_size=settings.max_chunk_size,
        max_file_size=settings.max_file_size,
        expiry=timedelta(seconds=settings.expiry_seconds),
        lease_seconds=settings.lease_seconds,
        hash_wait=settings.s3_hash_wait_seconds,
    )
    return Engine(build_data_store(settings), build_meta_store(settings), limits)
