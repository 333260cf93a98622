"""SQLite MetaStore: the embedded default, one WAL-mode file beside the data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from upslice.record import Segment, State, Upload
from upslice.stores.base import MetaStore

SCHEMA = """
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
"""

COLUMNS = (
    "id protocol owner file_name file_type size hash_algorithm hash chunk_size state "
    "created_at updated_at expires_at metadata instant extra store_state"
).split()
JSON_FIELDS = {"metadata", "extra", "store_state"}
TIME_FIELDS = {"created_at", "updated_at", "expires_at"}


def _to_column(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        return json.dumps(value)
    if name in TIME_FIELDS:
        return value.timestamp() if value is not None else None
    if name == "state":
        return str(value)
    if name == "instant":
        return int(value)
    return value


def _from_row(row: aiosqlite.Row, segments: tuple[Segment, ...]) -> Upload:
    values: dict[str, Any] = {}
    for name in COLUMNS:
        value = row[name]
        if name in JSON_FIELDS:
            value = json.loads(value)
        elif name in TIME_FIELDS:
            value = datetime.fromtimestamp(value, UTC) if value is not None else None
        elif name == "state":
            value = State(value)
        elif name == "instant":
            value = bool(value)
        values[name] = value
    return Upload(segments=segments, **values)


class SqliteMetaStore(MetaStore):
    """Implements MetaStore over one aiosqlite connection (SQLite serialises writers anyway)."""

    def __init__(self, path: Path, *, synchronous_full: bool = False) -> None:
        self.path = path
        self.synchronous_full = synchronous_full
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by every request: a transaction must not let another
        # request's statement run inside it, so writers take turns.
        self._write = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("SqliteMetaStore.open() was not awaited")
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process; FULL also survives power loss (--fsync).
        sync = "FULL" if self.synchronous_full else "NORMAL"
        await self._db.execute(f"PRAGMA synchronous={sync}")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._db.executescript(SCHEMA)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def insert(self, upload: Upload) -> None:
        values = [_to_column(name, getattr(upload, name)) for name in COLUMNS]
        marks = ", ".join("?" for _ in COLUMNS)
        async with self._write:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self.db.execute(
                    f"INSERT INTO uploads ({', '.join(COLUMNS)}) VALUES ({marks})", values
                )
                await self.db.executemany(
                    'INSERT INTO segments (upload_id, start, "end", digest) VALUES (?, ?, ?, ?)',
                    [(upload.id, s.start, s.end, s.digest) for s in upload.segments],
                )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def get(self, upload_id: str) -> Upload | None:
        async with self.db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return _from_row(row, await self._segments(upload_id))

    async def _segments(self, upload_id: str) -> tuple[Segment, ...]:
        async with self.db.execute(
            'SELECT start, "end", digest FROM segments WHERE upload_id = ? ORDER BY start',
            (upload_id,),
        ) as cur:
            return tuple(Segment(r[0], r[1], r[2]) for r in await cur.fetchall())

    async def update(self, upload_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(COLUMNS)
        if unknown or "id" in fields:
            raise ValueError(f"cannot update {sorted(unknown | ({'id'} & set(fields)))}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [_to_column(name, value) for name, value in fields.items()]
        async with self._write:
            await self.db.execute(
                f"UPDATE uploads SET {assignments} WHERE id = ?", [*values, upload_id]
            )

    async def transition(self, upload_id: str, expected: Iterable[State], new: State) -> bool:
        states = [str(s) for s in expected]
        marks = ", ".join("?" for _ in states)
        async with self._write:
            cursor = await self.db.execute(
                f"UPDATE uploads SET state = ? WHERE id = ? AND state IN ({marks})",
                [str(new), upload_id, *states],
            )
            return cursor.rowcount == 1

    async def put_segment(self, upload_id: str, segment: Segment) -> None:
        async with self._write:
            await self.db.execute(
                'INSERT OR REPLACE INTO segments (upload_id, start, "end", digest) '
                "VALUES (?, ?, ?, ?)",
                (upload_id, segment.start, segment.end, segment.digest),
            )

    async def find_by_content(
        self,
        hash_algorithm: str,
        digest: str,
        size: int,
        states: Iterable[State],
        owner: str | None = None,
        protocol: str | None = None,
    ) -> Upload | None:
        state_list = [str(s) for s in states]
        query = (
            "SELECT * FROM uploads WHERE hash_algorithm = ? AND hash = ? AND size = ? "
            f"AND state IN ({', '.join('?' for _ in state_list)})"
        )
        params: list[Any] = [hash_algorithm, digest, size, *state_list]
        if owner is not None:
            query += " AND owner = ?"
            params.append(owner)
        if protocol is not None:
            query += " AND protocol = ?"
            params.append(protocol)
        async with self.db.execute(query + " ORDER BY created_at DESC LIMIT 1", params) as cur:
            row = await cur.fetchone()
        return None if row is None else _from_row(row, await self._segments(row["id"]))

    async def list_uploads(
        self, owner: str | None, *, limit: int = 100, before: datetime | None = None
    ) -> list[Upload]:
        query = "SELECT * FROM uploads WHERE 1 = 1"
        params: list[Any] = []
        if owner is not None:
            query += " AND owner = ?"
            params.append(owner)
        if before is not None:
            query += " AND created_at < ?"
            params.append(before.timestamp())
        query += " ORDER BY created_at DESC LIMIT ?"
        async with self.db.execute(query, [*params, limit]) as cur:
            rows = list(await cur.fetchall())
        segments: dict[str, list[Segment]] = {row["id"]: [] for row in rows}
        if segments:
            marks = ", ".join("?" for _ in segments)
            async with self.db.execute(
                'SELECT upload_id, start, "end", digest FROM segments '
                f"WHERE upload_id IN ({marks}) ORDER BY start",
                list(segments),
            ) as cur:
                for upload_id, start, end, digest in await cur.fetchall():
                    segments[upload_id].append(Segment(start, end, digest))
        return [_from_row(row, tuple(segments[row["id"]])) for row in rows]

    async def expired(self, now: datetime) -> list[str]:
        async with self.db.execute(
            "SELECT id FROM uploads WHERE state != ? AND expires_at IS NOT NULL AND expires_at < ?",
            (str(State.COMPLETE), now.timestamp()),
        ) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def delete(self, upload_id: str) -> None:
        async with self._write:
            await self.db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
