"""Leases in the MetaStore: a dead writer never blocks an upload for longer than its lease."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.conftest import body, make_engine
from tests.waiting import eventually, wait_for
from upslice.engine import Engine, TaskSpec
from upslice.errors import Conflict

CHUNK = 4096


def spec_for(data: bytes) -> TaskSpec:
    return TaskSpec(hashlib.md5(data).hexdigest(), "f", "x/y", len(data), chunk_size=CHUNK)


async def test_a_chunk_held_by_another_node_is_refused_until_its_lease_lapses(
    tmp_path: Path,
) -> None:
    engine = make_engine(tmp_path, lease_seconds=0.5)
    await engine.open()
    try:
        data = bytes(range(256)) * 32
        task, _ = await engine.create_task(spec_for(data))
        other_node = "elsewhere:4242:0123456789ab:0123456789ab"
        assert await engine.meta.acquire_lease(f"chunk:{task.id}:0", other_node, 0.5)
        with pytest.raises(Conflict):
            await engine.write_chunk(task.id, 0, body(data[:CHUNK]))

        async def lapsed() -> bool:  # the lease's expiry, the condition under test
            return await engine.meta.get_lease(f"chunk:{task.id}:0") is None

        await eventually(lapsed)
        done = await engine.write_chunk(task.id, 0, body(data[:CHUNK]))
        assert 0 in done.received_chunks
    finally:
        await engine.close()


async def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(
    tmp_path: Path,
) -> None:
    engine = make_engine(tmp_path, lease_seconds=3600)
    await engine.open()
    try:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        dead = f"{engine.leases.host}:{gone.stdout.strip()}:0123456789ab:0123456789ab"
        assert await engine.meta.acquire_lease("append:x", dead, 3600)
        taker = engine.leases.new_holder()
        assert await engine.leases.try_acquire("append:x", taker)
        lease = await engine.meta.get_lease("append:x")  # taken over, not merely said so
        assert lease is not None and lease.holder == taker
        alive = f"{engine.leases.host}:1:0123456789ab:0123456789ab"  # pid 1 always runs
        assert await engine.meta.acquire_lease("append:y", alive, 3600)
        assert not await engine.leases.try_acquire("append:y", engine.leases.new_holder())
    finally:
        await engine.close()


async def test_a_killed_process_its_parent_has_not_reaped_yet_is_dead(tmp_path: Path) -> None:
    """A SIGKILLed worker stays a zombie until its supervisor waits for it: its leases must
    not block the upload until they lapse."""
    engine = make_engine(tmp_path, lease_seconds=3600)
    await engine.open()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        wait_for(lambda: stat.read_text().rpartition(")")[2].split()[0] == "Z", "a zombie")
        zombie = f"{engine.leases.host}:{child.pid}:0123456789ab:0123456789ab"
        assert await engine.meta.acquire_lease("chunk:z:0", zombie, 3600)
        assert await engine.leases.try_acquire("chunk:z:0", engine.leases.new_holder())
    finally:
        child.wait()
        await engine.close()


async def test_a_live_process_whose_name_looks_like_a_zombie_state_is_alive(
    tmp_path: Path,
) -> None:
    """/proc/PID/stat puts the process name in parentheses before the state, and a name may
    hold ") Z": the state is read after the last ")", so no name makes a live holder dead."""
    engine = make_engine(tmp_path, lease_seconds=3600)
    await engine.open()
    disguised = tmp_path / "x) Z y"
    disguised.symlink_to(Path(sys.executable).resolve())
    child = subprocess.Popen([str(disguised), "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        comm = Path(f"/proc/{child.pid}/comm")
        wait_for(lambda: comm.read_text().strip() == disguised.name, "the child's new name")
        holder = f"{engine.leases.host}:{child.pid}:0123456789ab:0123456789ab"
        assert await engine.meta.acquire_lease("chunk:n:0", holder, 3600)
        assert not engine.leases.is_dead(holder)
        assert not await engine.leases.try_acquire("chunk:n:0", engine.leases.new_holder())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait() == 0  # asking whether it lives sent it no signal but 0
        await engine.close()


async def test_a_lease_taken_by_another_holder_is_marked_lost(tmp_path: Path) -> None:
    """A holder whose renewal finds someone else's lease must know it: its writes then stop
    (`held.lost`) instead of carrying on as the only writer."""
    engine = make_engine(tmp_path, lease_seconds=0.3)
    await engine.open()
    try:
        async with engine.leases.holding("complete:s") as held:
            assert held is not None
            other = engine.leases.new_holder()
            assert await engine.meta.acquire_lease("complete:s", other, 3600, replacing=held.holder)

            async def noticed() -> bool:  # the next renewal, a tenth of a second away
                return held.lost

            await eventually(noticed, within=30)
            assert held.lost is True
            lease = await engine.meta.get_lease("complete:s")
            assert lease is not None and lease.holder == other
    finally:
        await engine.close()


async def test_a_holder_with_this_pid_but_another_process_token_is_dead(engine: Engine) -> None:
    """A restarted container often gets the same pid: the process token tells them apart."""
    earlier = f"{engine.leases.host}:{os.getpid()}:0123456789ab:0123456789ab"
    assert engine.leases.is_dead(earlier)
    assert not engine.leases.is_dead(engine.leases.new_holder())  # this very process


async def test_a_held_lease_is_renewed_past_its_ttl(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, lease_seconds=0.3)
    await engine.open()
    try:
        async with engine.leases.holding("complete:z") as held:
            assert held is not None
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # three TTLs pass while it is held
                lease = await engine.meta.get_lease("complete:z")
                assert lease is not None and lease.holder == held.holder
                await asyncio.sleep(0.05)
            assert not held.lost
        assert await engine.meta.get_lease("complete:z") is None  # released on exit
    finally:
        await engine.close()
