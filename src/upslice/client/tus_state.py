"""Remembers tus upload URLs between runs, keyed by the file's fingerprint.

A small JSON file (default `$XDG_CACHE_HOME/upslice/tus-urls.json`, or `~/.cache/...`;
override with `AsyncClient(tus_state=...)` or `UPSLICE_TUS_STATE`). Written atomically; the
last writer wins, which at worst costs a resumption, never correctness (the server's offsets
are always asked with HEAD before sending).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

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
        data = self._load()
        data[key] = {**entry, "updated": time.time()}
        if len(data) > KEEP:
            oldest = sorted(data, key=lambda k: float(data[k].get("updated", 0)))
            for stale in oldest[: len(data) - KEEP]:
                del data[stale]
        self._save(data)

    def forget(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is not None:
            self._save(data)

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(self.path)
