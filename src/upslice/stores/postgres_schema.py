"""The PostgreSQL schema as numbered migrations, recorded in `schema_version`.

`migrate` runs in one transaction under an advisory lock, so nodes starting together never
race: the first applies what is missing, the others then find it applied.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from upslice.stores.outbox_rows import POSTGRES_MIGRATION

MIGRATIONS = [
    """
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        protocol TEXT NOT NULL,
        owner TEXT,
        file_name TEXT NOT NULL,
        file_type TEXT NOT NULL,
        size BIGINT,
        hash_algorithm TEXT NOT NULL,
        hash TEXT,
        chunk_size BIGINT NOT NULL,
        state TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ,
        metadata JSONB NOT NULL,
        instant BOOLEAN NOT NULL,
        extra JSONB NOT NULL,
        store_state JSONB NOT NULL
    );
    CREATE INDEX uploads_by_content ON uploads (hash_algorithm, hash, size, state);
    CREATE INDEX uploads_by_owner ON uploads (owner, created_at);
    CREATE INDEX uploads_by_state ON uploads (state, updated_at);
    CREATE INDEX uploads_by_expiry ON uploads (expires_at) WHERE state <> 'complete';
    CREATE TABLE segments (
        upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
        start BIGINT NOT NULL,
        "end" BIGINT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (upload_id, start)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE hash_states (
        upload_id TEXT PRIMARY KEY REFERENCES uploads (id) ON DELETE CASCADE,
        generation BIGINT NOT NULL,
        "offset" BIGINT NOT NULL,
        state BYTEA NOT NULL
    );
    """,
    POSTGRES_MIGRATION,  # 2: the hook outbox
]
MIGRATION_LOCK = 0x7570_736C_6963_6501  # "upslice" + 1: any constant unique to this schema


async def migrate(conn: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]) -> None:
    """Apply the missing migrations; refuse a database newer than this code. The caller holds
    a transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL)")
    current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {current} is newer than this upslice knows "
            f"({len(MIGRATIONS)}): upgrade upslice"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        await conn.execute(MIGRATIONS[version - 1])
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
