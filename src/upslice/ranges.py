"""Chunk arithmetic and byte-range bookkeeping, kept pure so property tests can hammer it."""

from __future__ import annotations

from collections.abc import Iterable


def chunk_count(size: int, chunk_size: int) -> int:
    """Number of chunks of `chunk_size` that cover `size` bytes (an empty file has none)."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    return -(-size // chunk_size)


def chunk_bounds(index: int, size: int, chunk_size: int) -> tuple[int, int]:
    """Half-open byte range [start, end) of chunk `index`; only the last may be short."""
    if not 0 <= index < chunk_count(size, chunk_size):
        raise IndexError(index)
    start = index * chunk_size
    return start, min(size, start + chunk_size)


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open ranges as sorted, disjoint, non-adjacent ranges."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def covered(ranges: Iterable[tuple[int, int]]) -> int:
    """Total bytes covered by the ranges, overlaps counted once."""
    return sum(end - start for start, end in merge(ranges))


def contiguous_prefix(ranges: Iterable[tuple[int, int]]) -> int:
    """Length of the run of received bytes that starts at offset 0."""
    merged = merge(ranges)
    return merged[0][1] if merged and merged[0][0] == 0 else 0


def gaps(ranges: Iterable[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The parts of [0, size) that no range covers."""
    missing: list[tuple[int, int]] = []
    cursor = 0
    for start, end in merge(ranges):
        if start >= size:
            break
        if start > cursor:
            missing.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < size:
        missing.append((cursor, size))
    return missing
