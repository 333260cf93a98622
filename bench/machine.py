"""The machine under the bench: a virtual machine's memory, touched once before any timing.

A VM's host backs guest memory when the guest touches it, here at about 330 MiB/s (18 GiB
took 55 s on a fresh VM), and takes memory the guest freed back after a while (16 GiB touched
again 8 minutes later took 51 s). Until the free pages have been touched, the page cache an
upload writes into may land on pages the host must back first, and whichever server runs then
pays for it: the raw loopback-to-file ceiling ranged 307-1929 MiB/s in four runs on a fresh
VM, upslice's one-PATCH row 507-819 MiB/s; with the memory touched, 966-1936 and 896-997.
Hence every run touches it again at its start.
"""

from __future__ import annotations

import mmap
import sys
import time

import psutil

MiB = 1024 * 1024
STEP = 64 * MiB


def prime_memory(fraction: float = 0.75) -> None:
    """Write to `fraction` of the available memory once and give it back to the kernel."""
    size = int(psutil.virtual_memory().available * fraction) // STEP * STEP
    start = time.perf_counter()
    with mmap.mmap(-1, size) as memory:
        block = b"\1" * STEP
        for _ in range(size // STEP):
            memory.write(block)
    seconds = time.perf_counter() - start
    print(
        f"touched {size / 1024 / MiB:.1f} GiB of free memory once in {seconds:.1f} s "
        f"({size / MiB / seconds:.0f} MiB/s: ~1500 on this VM once touched, ~330 the first time)",
        file=sys.stderr,
    )
