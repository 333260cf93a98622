"""Statements run on the event loop's own thread, for SQLite's fast cases.

aiosqlite hands every statement to a thread and back: two wake-ups that cost more than the
statement itself (a row read by its key takes microseconds). A request runs some twenty such
statements, so per-request overhead, not SQL, limited small uploads and tus PATCHes. A
statement that cannot finish at once (another connection holds the write lock) must not block
the loop: these connections never wait (`busy_timeout=0`), and a statement refused as busy is
handed back to the caller, which runs it on the aiosqlite path that waits properly.

Writes are only made here when a commit does not fsync (`synchronous=NORMAL` in WAL mode):
with `--fsync` every commit waits for the disk, and that wait belongs on a thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Step = tuple[str, Sequence[Sequence[Any]]]  # a statement and the parameter rows to run it with
BUSY = object()  # the statement could not run at once: use the waiting path


def busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    return "locked" in str(exc)


class DirectConnection:
    """One sqlite3 connection in autocommit mode, used only from the event loop's thread."""

    def __init__(self, path: Path, *, reads_only: bool) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=0")
        self.db.execute("PRAGMA foreign_keys=ON")
        if reads_only:
            self.db.execute("PRAGMA query_only=ON")
        else:
            self.db.execute("PRAGMA synchronous=NORMAL")

    def read(self, sql: str, params: Iterable[Any]) -> list[sqlite3.Row] | object:
        """All rows of one query, or BUSY. The cursor is run to its end here, so no read
        transaction (and no stale snapshot) outlives the call."""
        try:
            return self.db.execute(sql, list(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if busy(exc):
                return BUSY
            raise

    def write(self, sql: str, params: Iterable[Any]) -> int | object:
        """One statement, committed on its own; its changed-row count, or BUSY."""
        try:
            return self.db.execute(sql, list(params)).rowcount
        except sqlite3.OperationalError as exc:
            if busy(exc):
                return BUSY
            raise

    def transaction(self, steps: Sequence[Step]) -> object:
        """The steps committed together, or BUSY if the write lock was not free at once
        (then nothing was written). Nothing awaits in between, so no other request's
        statement can land inside this transaction."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if busy(exc):
                return BUSY
            raise
        try:
            for sql, rows in steps:
                self.db.executemany(sql, rows)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return None

    def close(self) -> None:
        self.db.close()
