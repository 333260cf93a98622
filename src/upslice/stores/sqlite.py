"""SQLite MetaStore: the embedded default, one WAL-mode file beside the data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from upslice.errors import InsufficientStorage
from upslice.record import HashState, Lease, OutboxEvent, Segment, State, Upload
from upslice.stores.base import MetaStore
from upslice.stores.outbox_rows import SELECT as SELECT_EVENTS
from upslice.stores.outbox_rows import event_from_row, event_row
from upslice.stores.sqlite_direct import BUSY, DirectConnection, Step, busy
from upslice.stores.sqlite_rows import (
    COLUMNS,
    INSERT_EVENT,
    RESET_HASH_STATE,
    SAVE_FIRST_HASH_STATE,
    SAVE_HASH_STATE,
    SELECT_WITH_SEGMENTS,
    from_row,
    to_column,
)
from upslice.stores.sqlite_schema import migrate

BUSY_TIMEOUT = 10.0  # seconds a write waits for another process's write to end


def _out_of_space(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "is full" in str(exc)


@contextlib.contextmanager
def _full_disk_is_507() -> Iterator[None]:
    """A full disk becomes InsufficientStorage (507) instead of a bare sqlite3 error."""
    try:
        yield
    except sqlite3.Error as exc:
        if _out_of_space(exc):
            raise InsufficientStorage("the server is out of disk space") from exc
        raise


class SqliteMetaStore(MetaStore):
    """Implements MetaStore over two aiosqlite connections per process: one writes, one reads.

    Several processes (``--workers``) may share the file: WAL lets readers run beside the one
    writer, and every compare-and-set is a single statement, so SQLite's own lock makes it atomic
    across processes. Reads have their own connection so that a write never runs inside another
    request's read snapshot: SQLite refuses to upgrade a stale snapshot to a write at once
    (SQLITE_BUSY_SNAPSHOT), without waiting, when another process has written meanwhile.
    """

    def __init__(self, path: Path, *, synchronous_full: bool = False) -> None:
        self.path = path
        self.synchronous_full = synchronous_full
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # The writer is shared by every request: a transaction must not let another
        # request's statement run inside it, so writers take turns.
        self._write = asyncio.Lock()
        # Statements that can finish at once run on the loop's thread (sqlite_direct).
        self._direct_reader: DirectConnection | None = None
        self._direct_writer: DirectConnection | None = None
        self._loop_thread = 0

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection for reads."""
        if self._reader is None:
            raise RuntimeError("SqliteMetaStore.open() was not awaited")
        return self._reader

    @property
    def writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise RuntimeError("SqliteMetaStore.open() was not awaited")
        return self._writer

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await migrate(self._writer)
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only=ON")
        self._loop_thread = threading.get_ident()
        self._direct_reader = DirectConnection(self.path, reads_only=True)
        if not self.synchronous_full:  # an fsync per commit must not stall the loop
            self._direct_writer = DirectConnection(self.path, reads_only=False)

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        # WAL + NORMAL survives a killed process; FULL also survives power loss (--fsync).
        await db.execute(f"PRAGMA synchronous={'FULL' if self.synchronous_full else 'NORMAL'}")
        await db.execute("PRAGMA foreign_keys=ON")
        return db

    async def close(self) -> None:
        for direct in (self._direct_reader, self._direct_writer):
            if direct is not None:
                direct.close()
        self._direct_reader = self._direct_writer = None
        for db in (self._reader, self._writer):
            if db is not None:
                await db.close()
        self._reader = self._writer = None

    @contextlib.asynccontextmanager
    async def _writing(self, transaction: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """Take this process's write turn; a full disk becomes InsufficientStorage (507)."""
        db = self.writer
        async with self._write:
            try:
                if transaction:
                    await db.execute("BEGIN IMMEDIATE")
                yield db
                if transaction:
                    await db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:  # a failed COMMIT may have rolled back already
                    await db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and _out_of_space(exc):
                    raise InsufficientStorage("the server is out of disk space") from exc
                raise

    async def _run(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement; returns the number of rows it changed.

        A statement refused as busy changed nothing, so it is tried again until BUSY_TIMEOUT:
        the busy handler does not cover every case in which another process holds the lock.
        """
        direct = self._direct(self._direct_writer)
        if direct is not None:
            with _full_disk_is_507():
                changed = direct.write(sql, params)
            if changed is not BUSY:
                assert isinstance(changed, int)
                return changed
        deadline = time.monotonic() + BUSY_TIMEOUT
        pause = 0.002
        while True:
            try:
                async with self._writing() as db:
                    cursor = await db.execute(sql, list(params))
                    return cursor.rowcount
            except sqlite3.OperationalError as exc:
                if not busy(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)  # backing off while another process writes
            pause = min(pause * 2, 0.05)

    async def insert(self, upload: Upload, events: Sequence[OutboxEvent] = ()) -> None:
        values = [to_column(name, getattr(upload, name)) for name in COLUMNS]
        marks = ", ".join("?" for _ in COLUMNS)
        await self._transaction(
            (f"INSERT INTO uploads ({', '.join(COLUMNS)}) VALUES ({marks})", [values]),
            (
                'INSERT INTO segments (upload_id, start, "end", digest) VALUES (?, ?, ?, ?)',
                [(upload.id, s.start, s.end, s.digest) for s in upload.segments],
            ),
            (INSERT_EVENT, [event_row(e) for e in events]),
        )

    async def _transaction(self, *steps: Step) -> None:
        """Statements (each run once per parameter row) committed together."""
        direct = self._direct(self._direct_writer)
        if direct is not None:
            with _full_disk_is_507():
                if direct.transaction(steps) is not BUSY:
                    return
        async with self._writing(transaction=True) as db:
            for sql, rows in steps:
                await db.executemany(sql, rows)

    async def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One read statement, run to its end in one call on the reader connection. A cursor
        left open across an await would keep its read transaction, and with it a stale
        snapshot, for every other request reading on the same connection."""
        direct = self._direct(self._direct_reader)
        if direct is not None:
            rows = direct.read(sql, params)
            if rows is not BUSY:
                assert isinstance(rows, list)
                return rows
        return list(await self.db.execute_fetchall(sql, list(params)))

    def _direct(self, connection: DirectConnection | None) -> DirectConnection | None:
        """The loop-thread connection, when this call runs on the thread that opened it."""
        if connection is None or threading.get_ident() != self._loop_thread:
            return None
        return connection

    async def get(self, upload_id: str) -> Upload | None:
        rows = await self._read(SELECT_WITH_SEGMENTS, (upload_id,))  # one statement, not two
        row = next(iter(rows), None)
        if row is None:
            return None
        ranges = sorted(json.loads(row["segment_list"]))  # [start, end, digest], by start
        return from_row(row, tuple(Segment(*item) for item in ranges))

    async def _segments(self, upload_id: str) -> tuple[Segment, ...]:
        rows = await self._read(
            'SELECT start, "end", digest FROM segments WHERE upload_id = ? ORDER BY start',
            (upload_id,),
        )
        return tuple(Segment(r[0], r[1], r[2]) for r in rows)

    async def update(self, upload_id: str, **fields: Any) -> bool:
        unknown = set(fields) - set(COLUMNS)
        if unknown or "id" in fields:
            raise ValueError(f"cannot update {sorted(unknown | ({'id'} & set(fields)))}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [to_column(name, value) for name, value in fields.items()]
        sql = f"UPDATE uploads SET {assignments} WHERE id = ?"
        return await self._run(sql, [*values, upload_id]) == 1

    async def transition(self, upload_id: str, expected: Iterable[State], new: State) -> bool:
        states = [str(s) for s in expected]
        marks = ", ".join("?" for _ in states)
        sql = f"UPDATE uploads SET state = ? WHERE id = ? AND state IN ({marks})"
        return await self._run(sql, [str(new), upload_id, *states]) == 1

    async def put_segment(self, upload_id: str, segment: Segment) -> bool:
        sql = (
            'INSERT OR REPLACE INTO segments (upload_id, start, "end", digest) '
            "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM uploads WHERE id = ?)"
        )
        params = (upload_id, segment.start, segment.end, segment.digest, upload_id)
        return await self._run(sql, params) >= 1

    async def find_by_content(
        self,
        hash_algorithm: str,
        digest: str,
        size: int,
        states: Iterable[State],
        owner: str | None = None,
        protocol: str | None = None,
        *,
        any_owner: bool = False,
    ) -> Upload | None:
        state_list = [str(s) for s in states]
        query = (
            "SELECT * FROM uploads WHERE hash_algorithm = ? AND hash = ? AND size = ? "
            f"AND state IN ({', '.join('?' for _ in state_list)})"
        )
        params: list[Any] = [hash_algorithm, digest, size, *state_list]
        if not any_owner:
            query += " AND owner IS ?"
            params.append(owner)
        if protocol is not None:
            query += " AND protocol = ?"
            params.append(protocol)
        rows = await self._read(query + " ORDER BY created_at DESC LIMIT 1", params)
        row = next(iter(rows), None)
        return None if row is None else from_row(row, await self._segments(row["id"]))

    async def list_uploads(
        self,
        owner: str | None,
        *,
        limit: int = 100,
        before: datetime | None = None,
        any_owner: bool = False,
    ) -> list[Upload]:
        query = "SELECT * FROM uploads WHERE 1 = 1"
        params: list[Any] = []
        if not any_owner:
            query += " AND owner IS ?"
            params.append(owner)
        if before is not None:
            query += " AND created_at < ?"
            params.append(before.timestamp())
        query += " ORDER BY created_at DESC LIMIT ?"
        rows = await self._read(query, [*params, limit])
        segments: dict[str, list[Segment]] = {row["id"]: [] for row in rows}
        if segments:
            marks = ", ".join("?" for _ in segments)
            segment_rows = await self._read(
                'SELECT upload_id, start, "end", digest FROM segments '
                f"WHERE upload_id IN ({marks}) ORDER BY start",
                list(segments),
            )
            for upload_id, start, end, digest in segment_rows:
                segments[upload_id].append(Segment(start, end, digest))
        return [from_row(row, tuple(segments[row["id"]])) for row in rows]

    async def expired(self, now: datetime) -> list[str]:
        rows = await self._read(
            "SELECT id FROM uploads WHERE state != ? AND expires_at IS NOT NULL AND expires_at < ?",
            (str(State.COMPLETE), now.timestamp()),
        )
        return [row[0] for row in rows]

    async def ids_in_state(self, state: State, *, limit: int = 1000) -> list[str]:
        rows = await self._read(
            "SELECT id FROM uploads WHERE state = ? ORDER BY updated_at LIMIT ?",
            (str(state), limit),
        )
        return [row[0] for row in rows]

    async def delete(self, upload_id: str, events: Sequence[OutboxEvent] = ()) -> None:
        if not events:
            await self._run("DELETE FROM uploads WHERE id = ?", (upload_id,))
            return
        await self._transaction(
            ("DELETE FROM uploads WHERE id = ?", [(upload_id,)]),
            (INSERT_EVENT, [event_row(e) for e in events]),
        )

    # ---- leases ------------------------------------------------------------------------

    async def acquire_lease(
        self, name: str, holder: str, ttl: float, *, replacing: str | None = None
    ) -> bool:
        now = time.time()
        sql = (
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.expires_at <= ? OR leases.holder = ? OR leases.holder = ?"
        )
        params = (name, holder, now + ttl, now, holder, replacing if replacing else holder)
        return await self._run(sql, params) == 1

    async def release_lease(self, name: str, holder: str) -> None:
        await self._run("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    async def purge_leases(self) -> int:
        return await self._run("DELETE FROM leases WHERE expires_at <= ?", (time.time(),))

    async def get_lease(self, name: str) -> Lease | None:
        leases = await self._leases("name = ?", name)
        return leases[0] if leases else None

    async def live_leases(self, prefix: str) -> list[Lease]:
        return await self._leases("substr(name, 1, ?) = ?", len(prefix), prefix)

    async def _leases(self, condition: str, *params: Any) -> list[Lease]:
        rows = await self._read(
            f"SELECT name, holder, expires_at FROM leases WHERE {condition} AND expires_at > ?",
            (*params, time.time()),
        )
        return [Lease(r[0], r[1], datetime.fromtimestamp(r[2], UTC)) for r in rows]

    # ---- hash checkpoints --------------------------------------------------------------

    async def load_hash_state(self, upload_id: str) -> HashState | None:
        rows = await self._read(
            'SELECT generation, "offset", state FROM hash_states WHERE upload_id = ?',
            (upload_id,),
        )
        row = next(iter(rows), None)
        return None if row is None else HashState(row[0], row[1], bytes(row[2]))

    async def save_hash_state(self, upload_id: str, state: HashState) -> bool:
        if state.generation == 0:  # the first checkpoint, or one after nothing was reset
            first = (upload_id, state.generation, state.offset, state.state, upload_id)
            return await self._run(SAVE_FIRST_HASH_STATE, first) == 1
        later = (state.offset, state.state, upload_id, state.generation)
        return await self._run(SAVE_HASH_STATE, later) == 1

    async def reset_hash_state(self, upload_id: str) -> None:
        await self._run(RESET_HASH_STATE, (upload_id, upload_id))

    # ---- hook outbox ------------------------------------------------------------------

    async def append_events(self, events: Sequence[OutboxEvent]) -> None:
        await self._transaction((INSERT_EVENT, [event_row(e) for e in events]))

    async def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        return [event_from_row(row) for row in await self._read(SELECT_EVENTS + "?", (limit,))]

    async def event_delivered(self, event_id: str) -> None:
        await self._run("DELETE FROM hook_outbox WHERE id = ?", (event_id,))

    async def event_failed(self, event_id: str, next_attempt_at: datetime, error: str) -> None:
        await self._run(
            "UPDATE hook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE id = ?",
            (next_attempt_at.timestamp(), error, event_id),
        )
