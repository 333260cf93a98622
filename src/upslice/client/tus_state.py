"""Remembers tus upload URLs between runs, keyed by the file's fingerprint.

A small JSON file (default `$XDG_CACHE_HOME/upslice/tus-urls.json`, or `~/.cache/...`;
override with `AsyncClient(tus_state=...)` or `UPSLICE_TUS_STATE`). Written atomically, and
read, changed and written under a lock file beside it: several uploads running at once (in
threads, or separate `upslice upload` processes) each keep their entry, so each can resume.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

KEEP = 500  # entries; the oldest go first


def default_path() -> Path:
    if env := os.environ.get("UPSLICE_TUS_STATE"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "upslice" / "tus-urls.json"


class TusState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._load().get(key)
        return entry if isinstance(entry, dict) else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock():
            data = self._load()
            data[key] = {**entry, "updated": time.time()}
            if len(data) > KEEP:
                oldest = sorted(data, key=lambda k: float(data[k].get("updated", 0)))
                for stale in oldest[: len(data) - KEEP]:
                    del data[stale]
            self._save(data)

    def forget(self, key: str) -> None:
        with self._lock():
            data = self._load()
            if data.pop(key, None) is not None:
                self._save(data)

    def _lock(self) -> FileLock:
        """Held from reading the file to replacing it: without it, two writers at once each
        write back what they read, and the first one's entry is lost."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(self.path.with_name(f"{self.path.name}.lock"))

    def _save(self, data: dict[str, Any]) -> None:
        name = f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        temporary = self.path.with_name(name)
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(self.path)
