"""How an upload is stored in SQLite: its columns, their encoding, and the shared statements."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from upslice.record import Segment, State, Upload

COLUMNS = (
    "id protocol owner file_name file_type size hash_algorithm hash chunk_size state "
    "created_at updated_at expires_at metadata instant extra store_state"
).split()
JSON_FIELDS = {"metadata", "extra", "store_state"}
TIME_FIELDS = {"created_at", "updated_at", "expires_at"}


def to_column(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        return json.dumps(value)
    if name in TIME_FIELDS:
        return value.timestamp() if value is not None else None
    if name == "state":
        return str(value)
    if name == "instant":
        return int(value)
    return value


def from_row(row: sqlite3.Row, segments: tuple[Segment, ...]) -> Upload:
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


SELECT_WITH_SEGMENTS = (
    'SELECT *, (SELECT json_group_array(json_array(start, "end", digest)) FROM segments '
    "WHERE upload_id = uploads.id) AS segment_list FROM uploads WHERE id = ?"
)
INSERT_EVENT = (
    "INSERT INTO hook_outbox (id, upload_id, name, payload) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)

# Hash checkpoints: a save counts only under the generation it was taken in (see HashState)
SAVE_FIRST_HASH_STATE = (
    'INSERT INTO hash_states (upload_id, generation, "offset", state) '
    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM uploads WHERE id = ?) "
    'ON CONFLICT (upload_id) DO UPDATE SET "offset" = excluded."offset", '
    "state = excluded.state WHERE hash_states.generation = 0"
)
SAVE_HASH_STATE = (
    'UPDATE hash_states SET "offset" = ?, state = ? WHERE upload_id = ? AND generation = ?'
)
RESET_HASH_STATE = (
    'INSERT INTO hash_states (upload_id, generation, "offset", state) '
    "SELECT ?, 1, 0, X'' WHERE EXISTS (SELECT 1 FROM uploads WHERE id = ?) "
    'ON CONFLICT (upload_id) DO UPDATE SET generation = generation + 1, "offset" = 0, '
    "state = X''"
)
