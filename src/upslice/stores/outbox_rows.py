"""The hook outbox's table as both SQL backends create it, and its rows as records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from upslice.record import OutboxEvent

SQLITE_MIGRATION = """
    CREATE TABLE hook_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        upload_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_error TEXT
    );
"""
POSTGRES_MIGRATION = """
    CREATE TABLE hook_outbox (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        upload_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMPTZ,
        last_error TEXT
    );
"""
SELECT = (
    "SELECT seq, id, upload_id, name, payload, attempts, next_attempt_at, last_error "
    "FROM hook_outbox ORDER BY seq LIMIT "
)


def event_row(event: OutboxEvent) -> tuple[str, str, str, str]:
    return (event.id, event.upload_id, event.name, event.payload)


def event_from_row(row: Any) -> OutboxEvent:
    """An event from a row of either backend (SQLite keeps times as epoch seconds)."""
    when = row["next_attempt_at"]
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC)
    return OutboxEvent(
        id=row["id"],
        upload_id=row["upload_id"],
        name=row["name"],
        payload=row["payload"],
        seq=row["seq"],
        attempts=row["attempts"],
        next_attempt_at=when,
        last_error=row["last_error"],
    )
