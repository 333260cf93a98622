"""Whole-file hash throughput: hashlib, ResumableHasher (libcrypto), rehashes; 1 and 2 threads.

Each thread hashes its own copy of the work (the same blocks, 1 MiB like the engine's), so
two threads that really run in parallel show about twice the MiB/s of one; a hasher that
holds the GIL shows no gain. Best of a few runs, because the machine is shared.
Run: `.venv/bin/python bench/hashstate.py [--mib 128] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

from upslice.hashstate import BACKENDS, ResumableHasher

MiB = 1024 * 1024


class Updatable(Protocol):
    def update(self, data: bytes, /) -> None: ...


def run(new: Callable[[], Updatable], blocks: list[bytes], threads: int) -> tuple[float, float]:
    """MiB/s over all threads (all start together; until the last ends), and CPU time / wall.

    The second figure tells GIL release apart from luck on a busy machine: a hasher holding the
    GIL cannot use more than one CPU second per second, however many threads run it.
    """
    start = threading.Barrier(threads + 1)

    def work() -> None:
        hasher = new()
        start.wait()
        for block in blocks:
            hasher.update(block)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    return threads * len(blocks) / wall, (time.process_time() - cpu) / wall


def checkpoint_micros(algorithm: str, backend: str, rounds: int = 2000) -> float:
    """Microseconds for one serialize + deserialize: the cost of a MetaStore checkpoint."""
    hasher = ResumableHasher(algorithm, backend=backend)
    hasher.update(os.urandom(1000))
    began = time.perf_counter()
    for _ in range(rounds):
        hasher = ResumableHasher.deserialize(hasher.serialize(), backend=backend)
    return (time.perf_counter() - began) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128, help="MiB each thread hashes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = os.urandom(args.mib * MiB)
    blocks = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    print(f"{os.cpu_count()} CPUs, {args.mib} MiB per thread, best of {args.repeat}\n")
    print(
        "| algorithm | hasher | 1 thread MiB/s | 2 threads MiB/s | CPUs used by 2 | checkpoint µs |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for algorithm in ("md5", "sha256"):
        hashers: dict[str, Callable[[], Updatable]] = {"hashlib": partial(hashlib.new, algorithm)}
        for backend in BACKENDS:
            hashers[f"ResumableHasher ({backend})"] = partial(
                ResumableHasher, algorithm, backend=backend
            )
        for name, new in hashers.items():
            one, two = (max(run(new, blocks, n) for _ in range(args.repeat)) for n in (1, 2))
            backend = name.partition("(")[2].rstrip(")")
            micros = f"{checkpoint_micros(algorithm, backend):.1f}" if backend else "—"
            cells = f"{one[0]:.0f} | {two[0]:.0f} | {two[1]:.2f} | {micros}"
            print(f"| {algorithm} | {name} | {cells} |")


if __name__ == "__main__":
    main()
