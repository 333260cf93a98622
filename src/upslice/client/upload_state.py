"""Remembers which task a file is uploading to, so that a rerun resumes it without its hash.

An upload that hashes beside the transfer creates its task before the hash is known, so the
server cannot find it again by hash. This small JSON file maps (server, absolute path, size,
mtime) to the task id instead: a file that changed gets a new task. Default
`$XDG_STATE_HOME/upslice/uploads.json` (or `~/.local/state/...`); `UPSLICE_STATE_DIR` names
another directory. Same format and write rules as the tus state.
"""

from __future__ import annotations

import os
from pathlib import Path

from upslice.client.source import Source
from upslice.client.tus_state import TusState


def default_path() -> Path:
    if env := os.environ.get("UPSLICE_STATE_DIR"):
        return Path(env) / "uploads.json"
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "upslice" / "uploads.json"


def key_of(server: str, source: Source) -> str | None:
    """The file's identity for this server; None for a file object (nothing to find it by)."""
    if source.path is None:
        return None
    info = source.path.stat()
    return f"{server}|{source.path}|{info.st_size}|{info.st_mtime_ns}"


class UploadState(TusState):
    """Task ids by file identity (see the module's doc)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path or default_path())
