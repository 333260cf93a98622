"""Shared bits of the client tests: files on disk and the server's byte counter."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import httpx

KiB = 1024
MiB = 1024 * KiB


def make_file(path: Path, size: int, seed: int = 1) -> Path:
    """Reproducible, incompressible content, written in pieces."""
    rng = random.Random(seed)
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, MiB)
            out.write(rng.randbytes(n))
            left -= n
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def bytes_received(url: str) -> int:
    """What the server has accepted as chunk bytes since it started (from /health)."""
    counters = httpx.get(f"{url}/health", timeout=10).json()["counters"]
    return int(counters.get("bytes_received", 0))
