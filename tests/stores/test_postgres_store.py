"""What only the PostgreSQL MetaStore has: its own versioned schema, and driver errors that an
operator must see as "no room" (507) rather than a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from upslice.errors import InsufficientStorage
from upslice.stores.postgres import PostgresMetaStore
from upslice.stores.postgres_schema import MIGRATIONS


async def migrated(dsn: str) -> None:
    """Let a store create the schema, then leave the database to the test."""
    store = PostgresMetaStore(dsn)
    await store.open()
    await store.close()


async def execute(dsn: str, *statements: str) -> None:
    """Run SQL behind the store's back, as an operator or another program would."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_nodes_starting_together_migrate_the_schema_once(postgres_dsn: str) -> None:
    stores = [PostgresMetaStore(postgres_dsn) for _ in range(6)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_version")]
        finally:
            await conn.close()
        assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    await migrated(postgres_dsn)  # a restart finds nothing left to do


async def test_a_schema_newer_than_this_code_is_refused(postgres_dsn: str) -> None:
    await migrated(postgres_dsn)
    await execute(postgres_dsn, f"INSERT INTO schema_version VALUES ({len(MIGRATIONS) + 1})")
    with pytest.raises(RuntimeError, match="newer than this upslice knows"):
        await PostgresMetaStore(postgres_dsn).open()


async def test_running_out_of_temporary_space_is_insufficient_storage(postgres_dsn: str) -> None:
    await migrated(postgres_dsn)
    database = postgres_dsn.rsplit("/", 1)[1]
    # Enough expired uploads that listing them in order must sort on disk, and no disk to do
    # it with: the server answers SQLSTATE 53400, a class-53 "insufficient resources" error.
    await execute(
        postgres_dsn,
        "INSERT INTO uploads (id, protocol, file_name, file_type, size, hash_algorithm,"
        " chunk_size, state, created_at, updated_at, expires_at, metadata, instant, extra,"
        " store_state) SELECT 'u' || g, 'tasks', 'f', 't', 1, 'md5', 1, 'receiving', now(),"
        " now(), now() - g * interval '1 second', '{}', false, '{}', '{}'"
        " FROM generate_series(1, 5000) g",
        *(
            f"ALTER DATABASE {database} SET {setting}"
            for setting in [
                "temp_file_limit = 0",
                "work_mem = '64kB'",
                "enable_indexscan = off",
                "enable_bitmapscan = off",
            ]
        ),
    )
    store = PostgresMetaStore(postgres_dsn)  # new sessions pick the settings up
    await store.open()
    try:
        with pytest.raises(InsufficientStorage) as raised:
            await store.expired(datetime.now(UTC) + timedelta(hours=1))
        assert raised.value.status == 507 and raised.value.details["sqlstate"] == "53400"
    finally:
        await store.close()
