"""The SQLite schema as numbered migrations, tracked in `PRAGMA user_version`.

Every process that opens the file runs `migrate`; `BEGIN IMMEDIATE` makes the first one do the
work and the others see the new version, so workers starting together never race.
"""

from __future__ import annotations

import aiosqlite

from upslice.stores.outbox_rows import SQLITE_MIGRATION

MIGRATIONS: tuple[str, ...] = (
    # 1: records and their received segments
    """
    CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        protocol TEXT NOT NULL,
        owner TEXT,
        file_name TEXT NOT NULL,
        file_type TEXT NOT NULL,
        size INTEGER,
        hash_algorithm TEXT NOT NULL,
        hash TEXT,
        chunk_size INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        metadata TEXT NOT NULL,
        instant INTEGER NOT NULL,
        extra TEXT NOT NULL,
        store_state TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS uploads_by_content ON uploads (hash_algorithm, hash, size, state);
    CREATE INDEX IF NOT EXISTS uploads_by_expiry ON uploads (state, expires_at);
    CREATE INDEX IF NOT EXISTS uploads_by_owner ON uploads (owner, created_at);
    CREATE TABLE IF NOT EXISTS segments (
        upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (upload_id, start)
    );
    """,
    # 2: coordination between processes: leases and whole-file hash checkpoints
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE hash_states (
        upload_id TEXT PRIMARY KEY REFERENCES uploads (id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        "offset" INTEGER NOT NULL,
        state BLOB NOT NULL
    );
    CREATE INDEX uploads_by_state ON uploads (state, updated_at);
    """,
    # 3: the hook outbox (non-blocking events until a receiver took them)
    SQLITE_MIGRATION,
)


async def migrate(db: aiosqlite.Connection) -> int:
    """Bring the schema to the newest version; returns it."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
        await db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
