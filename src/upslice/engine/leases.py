"""Leases: who may write a chunk, append, complete, hash or sweep, kept in the MetaStore.

A lease lapses by itself `ttl` seconds after its last renewal, so a process or node that dies
never blocks an upload for longer than that. A holder on this host whose process is gone is
known dead at once (its pid no longer runs, or this very pid belongs to a new process), so a
restarted server takes over what a crash left without waiting for the lease to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

from upslice.stores.base import MetaStore

log = logging.getLogger("upslice.leases")
POLL = 0.02  # how often a waiter looks again: the holder may be another process or node
_PROCESS = [secrets.token_hex(6)]  # this process's token; a forked child gets its own


def _new_process_token() -> None:
    _PROCESS[0] = secrets.token_hex(6)


os.register_at_fork(after_in_child=_new_process_token)


class Busy(Exception):
    """Another holder kept a lease for longer than a waiter would wait."""


class Held:
    """A lease this process holds; `lost` turns true if a renewal failed."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        self.lost = False


class Leases:
    def __init__(self, meta: MetaStore, ttl: float) -> None:
        self.meta = meta
        self.ttl = ttl
        self.host = socket.gethostname().replace(":", "_")

    @property
    def process(self) -> str:
        return _PROCESS[0]

    def new_holder(self) -> str:
        """A holder name unique to one operation: host, pid, process token, operation token."""
        return f"{self.host}:{os.getpid()}:{self.process}:{secrets.token_hex(6)}"

    async def try_acquire(self, name: str, holder: str) -> bool:
        if await self.meta.acquire_lease(name, holder, self.ttl):
            return True
        current = await self.meta.get_lease(name)
        if current is None:  # it lapsed in between
            return await self.meta.acquire_lease(name, holder, self.ttl)
        if self.is_dead(current.holder):
            log.info("taking over lease %s from dead holder %s", name, current.holder)
            return await self.meta.acquire_lease(name, holder, self.ttl, replacing=current.holder)
        return False

    def is_dead(self, holder: str) -> bool:
        """True only when `holder` provably belongs to a process that no longer runs."""
        parts = holder.split(":")
        if len(parts) != 4 or parts[0] != self.host or not parts[1].isdigit():
            return False  # another host: only the lease's expiry can tell
        pid, process = int(parts[1]), parts[2]
        if process == self.process:
            return False
        if pid == os.getpid():
            return True  # this pid now runs a different process: the holder is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _zombie(pid)  # killed, but its parent has not reaped it yet

    async def release(self, held: Held) -> None:
        await self.meta.release_lease(held.name, held.holder)

    @contextlib.asynccontextmanager
    async def holding(self, name: str, holder: str | None = None) -> AsyncIterator[Held | None]:
        """Hold `name` while the block runs, renewing it; yields None if someone else holds it."""
        held = Held(name, holder or self.new_holder())
        if not await self.try_acquire(name, held.holder):
            yield None
            return
        renewal = asyncio.create_task(self._renew(held))
        try:
            yield held
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await asyncio.shield(self.release(held))

    @contextlib.asynccontextmanager
    async def waiting(self, name: str, timeout: float) -> AsyncIterator[Held]:
        """Hold `name` while the block runs, waiting up to `timeout` seconds for whoever
        holds it now to let go (polling: that may be another process or node).
        Busy if they do not."""
        deadline = time.monotonic() + timeout
        while True:
            async with self.holding(name) as held:
                if held is not None:
                    yield held
                    return
            if time.monotonic() > deadline:
                raise Busy(f"lease {name} is still held by another request")
            await asyncio.sleep(POLL)

    async def _renew(self, held: Held) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                renewed = await self.meta.acquire_lease(held.name, held.holder, self.ttl)
            except Exception:
                log.exception("renewing lease %s failed", held.name)
                renewed = False
            if not renewed:
                held.lost = True
                log.warning("lost lease %s", held.name)
                return


def _zombie(pid: int) -> bool:
    """Whether `pid` has exited and only waits for its parent to reap it (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here (or it just went): only the lease's expiry can tell
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
