"""PostgreSQL MetaStore: one database shared by several upslice nodes.

Needs the `upslice[postgres]` extra (asyncpg). upslice creates and migrates its own schema
(`postgres_schema`). Leases are timed by the database's clock, so nodes with skewed clocks
still agree on who holds what.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import asyncpg

from upslice.errors import InsufficientStorage
from upslice.record import HashState, Lease, OutboxEvent, Segment, State, Upload
from upslice.stores.base import MetaStore
from upslice.stores.outbox_rows import SELECT as SELECT_EVENTS
from upslice.stores.outbox_rows import event_from_row, event_row
from upslice.stores.postgres_schema import migrate

P = ParamSpec("P")
T = TypeVar("T")

COLUMNS = [f.name for f in dataclasses.fields(Upload) if f.name != "segments"]
SELECT_UPLOADS = """
    SELECT u.*, (
        SELECT coalesce(jsonb_agg(jsonb_build_array(s.start, s."end", s.digest) ORDER BY s.start),
                        '[]')
        FROM segments s WHERE s.upload_id = u.id
    ) AS segment_list
    FROM uploads u
"""
SELECT_LEASES = "SELECT name, holder, expires_at FROM leases WHERE expires_at > clock_timestamp()"
ACQUIRE_LEASE = """
    INSERT INTO leases AS l (name, holder, expires_at)
    VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE l.expires_at <= clock_timestamp() OR l.holder = excluded.holder OR l.holder = $4
    RETURNING 1
"""
INSERT_EVENT = """
    INSERT INTO hook_outbox (id, upload_id, name, payload) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO NOTHING
"""
SAVE_FIRST_HASH_STATE = """
    INSERT INTO hash_states AS h (upload_id, generation, "offset", state) VALUES ($1, 0, $2, $3)
    ON CONFLICT (upload_id) DO UPDATE SET "offset" = excluded."offset", state = excluded.state
    WHERE h.generation = 0
    RETURNING 1
"""
RESET_HASH_STATE = """
    INSERT INTO hash_states AS h (upload_id, generation, "offset", state) VALUES ($1, 1, 0, '')
    ON CONFLICT (upload_id) DO UPDATE SET generation = h.generation + 1, "offset" = 0, state = ''
"""


def storage_errors(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """SQLSTATE class 53 (disk or temp space full, out of memory, too many connections) becomes
    InsufficientStorage, which front ends answer with 507, never a bare driver error."""

    @functools.wraps(method)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except asyncpg.PostgresError as exc:
            if str(exc.sqlstate).startswith("53"):
                raise InsufficientStorage(
                    "the metadata database has no room for this now", sqlstate=exc.sqlstate
                ) from exc
            raise

    return translated


def _to_column(name: str, value: Any) -> Any:
    return str(value) if name == "state" else value


def _from_row(row: asyncpg.Record) -> Upload:
    values = {name: row[name] for name in COLUMNS}
    values["state"] = State(values["state"])
    segments = tuple(Segment(start, end, digest) for start, end, digest in row["segment_list"])
    return Upload(segments=segments, **values)


def _owner_clause(owner: str | None, any_owner: bool, params: list[Any]) -> str:
    """SQL that keeps only `owner`'s rows; None is the anonymous owner, never "everyone"."""
    if any_owner:
        return ""
    if owner is None:
        return " AND u.owner IS NULL"
    params.append(owner)
    return f" AND u.owner = ${len(params)}"


def _count(status: str) -> int:
    """Rows touched, from a command tag such as "UPDATE 1"."""
    return int(status.rsplit(" ", 1)[-1])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresMetaStore(MetaStore):
    """Implements MetaStore over an asyncpg pool; every check-and-set is one SQL statement."""

    def __init__(self, dsn: str, *, min_connections: int = 1, max_connections: int = 10) -> None:
        self.dsn = dsn
        self.min_connections = min_connections
        self.max_connections = max_connections
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresMetaStore.open() was not awaited")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_connections,
            max_size=self.max_connections,
            init=_init_connection,
        )
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    async def migrate(self) -> None:
        """Bring the schema up to `MIGRATIONS`; refuse a database newer than this code."""
        async with self.pool.acquire() as conn, conn.transaction():
            await migrate(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @storage_errors
    async def insert(self, upload: Upload, events: Sequence[OutboxEvent] = ()) -> None:
        marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        values = [_to_column(name, getattr(upload, name)) for name in COLUMNS]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO uploads ({', '.join(COLUMNS)}) VALUES ({marks})", *values
            )
            await conn.executemany(
                'INSERT INTO segments (upload_id, start, "end", digest) VALUES ($1, $2, $3, $4)',
                [(upload.id, s.start, s.end, s.digest) for s in upload.segments],
            )
            await conn.executemany(INSERT_EVENT, [event_row(e) for e in events])

    @storage_errors
    async def get(self, upload_id: str) -> Upload | None:
        row = await self.pool.fetchrow(SELECT_UPLOADS + " WHERE u.id = $1", upload_id)
        return None if row is None else _from_row(row)

    @storage_errors
    async def update(self, upload_id: str, **fields: Any) -> bool:
        unknown = set(fields) - set(COLUMNS) | ({"id"} & set(fields))
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        names = list(fields)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
        values = [_to_column(name, fields[name]) for name in names]
        status = await self.pool.execute(
            f"UPDATE uploads SET {assignments} WHERE id = $1", upload_id, *values
        )
        return _count(status) == 1

    @storage_errors
    async def transition(self, upload_id: str, expected: Iterable[State], new: State) -> bool:
        status = await self.pool.execute(
            "UPDATE uploads SET state = $2 WHERE id = $1 AND state = ANY($3::text[])",
            upload_id,
            str(new),
            [str(s) for s in expected],
        )
        return _count(status) == 1

    @storage_errors
    async def put_segment(self, upload_id: str, segment: Segment) -> bool:
        try:
            await self.pool.execute(
                'INSERT INTO segments (upload_id, start, "end", digest) '
                "VALUES ($1, $2, $3, $4) ON CONFLICT (upload_id, start) "
                'DO UPDATE SET "end" = excluded."end", digest = excluded.digest',
                upload_id,
                segment.start,
                segment.end,
                segment.digest,
            )
        except asyncpg.ForeignKeyViolationError:
            return False  # the upload was deleted meanwhile
        return True

    @storage_errors
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
        params: list[Any] = [hash_algorithm, digest, size, [str(s) for s in states]]
        query = (
            SELECT_UPLOADS + " WHERE u.hash_algorithm = $1 AND u.hash = $2 AND u.size = $3"
            " AND u.state = ANY($4::text[])" + _owner_clause(owner, any_owner, params)
        )
        if protocol is not None:
            params.append(protocol)
            query += f" AND u.protocol = ${len(params)}"
        row = await self.pool.fetchrow(query + " ORDER BY u.created_at DESC LIMIT 1", *params)
        return None if row is None else _from_row(row)

    @storage_errors
    async def list_uploads(
        self,
        owner: str | None,
        *,
        limit: int = 100,
        before: datetime | None = None,
        any_owner: bool = False,
    ) -> list[Upload]:
        params: list[Any] = []
        query = SELECT_UPLOADS + " WHERE TRUE" + _owner_clause(owner, any_owner, params)
        if before is not None:
            params.append(before)
            query += f" AND u.created_at < ${len(params)}"
        params.append(limit)
        query += f" ORDER BY u.created_at DESC LIMIT ${len(params)}"
        return [_from_row(row) for row in await self.pool.fetch(query, *params)]

    @storage_errors
    async def expired(self, now: datetime) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT id FROM uploads WHERE state <> 'complete' AND expires_at < $1 "
            "ORDER BY expires_at",
            now,
        )
        return [row["id"] for row in rows]

    @storage_errors
    async def ids_in_state(self, state: State, *, limit: int = 1000) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT id FROM uploads WHERE state = $1 ORDER BY updated_at, id LIMIT $2",
            str(state),
            limit,
        )
        return [row["id"] for row in rows]

    @storage_errors
    async def delete(self, upload_id: str, events: Sequence[OutboxEvent] = ()) -> None:
        # Segments and the hash checkpoint go by ON DELETE CASCADE; leases are not records.
        if not events:
            await self.pool.execute("DELETE FROM uploads WHERE id = $1", upload_id)
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM uploads WHERE id = $1", upload_id)
            await conn.executemany(INSERT_EVENT, [event_row(e) for e in events])

    @storage_errors
    async def acquire_lease(
        self, name: str, holder: str, ttl: float, *, replacing: str | None = None
    ) -> bool:
        won = await self.pool.fetchval(ACQUIRE_LEASE, name, holder, float(ttl), replacing)
        return won is not None

    @storage_errors
    async def release_lease(self, name: str, holder: str) -> None:
        await self.pool.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)

    @storage_errors
    async def purge_leases(self) -> int:
        status = await self.pool.execute("DELETE FROM leases WHERE expires_at <= clock_timestamp()")
        return int(status.split()[-1])

    @storage_errors
    async def get_lease(self, name: str) -> Lease | None:
        row = await self.pool.fetchrow(SELECT_LEASES + " AND name = $1", name)
        return None if row is None else Lease(row["name"], row["holder"], row["expires_at"])

    @storage_errors
    async def live_leases(self, prefix: str) -> list[Lease]:
        rows = await self.pool.fetch(
            SELECT_LEASES + " AND starts_with(name, $1) ORDER BY name", prefix
        )
        return [Lease(row["name"], row["holder"], row["expires_at"]) for row in rows]

    @storage_errors
    async def load_hash_state(self, upload_id: str) -> HashState | None:
        row = await self.pool.fetchrow(
            'SELECT generation, "offset", state FROM hash_states WHERE upload_id = $1', upload_id
        )
        return None if row is None else HashState(row[0], row[1], row[2])

    @storage_errors
    async def save_hash_state(self, upload_id: str, state: HashState) -> bool:
        try:
            if state.generation == 0:
                saved = await self.pool.fetchval(
                    SAVE_FIRST_HASH_STATE, upload_id, state.offset, state.state
                )
            else:
                saved = await self.pool.fetchval(
                    'UPDATE hash_states SET "offset" = $3, state = $4 '
                    "WHERE upload_id = $1 AND generation = $2 RETURNING 1",
                    upload_id,
                    state.generation,
                    state.offset,
                    state.state,
                )
        except asyncpg.ForeignKeyViolationError:
            return False  # no such upload (any more)
        return saved is not None

    @storage_errors
    async def reset_hash_state(self, upload_id: str) -> None:
        try:
            await self.pool.execute(RESET_HASH_STATE, upload_id)
        except asyncpg.ForeignKeyViolationError:
            pass  # no such upload: nothing was hashed, nothing to fence

    # ---- hook outbox ------------------------------------------------------------------

    @storage_errors
    async def append_events(self, events: Sequence[OutboxEvent]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(INSERT_EVENT, [event_row(e) for e in events])

    @storage_errors
    async def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        return [event_from_row(row) for row in await self.pool.fetch(SELECT_EVENTS + "$1", limit)]

    @storage_errors
    async def event_delivered(self, event_id: str) -> None:
        await self.pool.execute("DELETE FROM hook_outbox WHERE id = $1", event_id)

    @storage_errors
    async def event_failed(self, event_id: str, next_attempt_at: datetime, error: str) -> None:
        await self.pool.execute(
            "UPDATE hook_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 "
            "WHERE id = $1",
            event_id,
            next_attempt_at,
            error,
        )
