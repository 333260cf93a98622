"""Creating tasks: requests that create the same content at once find one task, not several."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.engine.conftest import CountingStore, LeaseRequests, body, make_engine
from upslice import possession
from upslice.engine import Engine, Limits, TaskSpec
from upslice.engine import creating as creating_module
from upslice.errors import Conflict, InvalidInput

DATA = bytes(range(256)) * 64  # 16 KiB: four chunks


def spec() -> TaskSpec:
    return TaskSpec(hashlib.md5(DATA).hexdigest(), "f.bin", "x/y", len(DATA), chunk_size=4096)


@pytest.fixture
async def postgres_engines(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[list[Engine]]:
    """Two engines on one PostgreSQL database and one data directory: two nodes, whose
    statements really interleave (asyncpg waits on the network at every one)."""
    from upslice.stores.postgres import PostgresMetaStore

    engines = [
        Engine(
            CountingStore(tmp_path / "data"),
            PostgresMetaStore(postgres_dsn),
            Limits(min_chunk_size=1024),
        )
        for _ in range(2)
    ]
    for engine in engines:
        await engine.open()
    yield engines
    for engine in engines:
        await engine.close()


async def test_simultaneous_creates_of_one_file_make_one_task(
    postgres_engines: list[Engine],
) -> None:
    creates = [postgres_engines[i % 2].create_task(spec(), owner="ann") for i in range(8)]
    results = await asyncio.gather(*creates)
    assert len({task.id for task, _ in results}) == 1, "two requests made two tasks"
    assert sum(new for _, new in results) == 1
    other, new = await postgres_engines[0].create_task(spec(), owner="bob")
    assert new and other.id != results[0][0].id  # another owner's creation never waits on it


async def test_a_create_waits_for_one_under_way_and_resumes_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(tmp_path)
    await engine.open()
    try:
        first, _ = await engine.create_task(spec(), owner="ann")
        await engine.write_chunk(first.id, 0, body(DATA[:4096]), owner="ann")
        name = f"create:md5:{first.hash}:{len(DATA)}:ann"
        requests = LeaseRequests(engine, name, monkeypatch)
        async with engine.leases.holding(name) as held:  # a create under way elsewhere
            assert held is not None
            waiting = asyncio.create_task(engine.create_task(spec(), owner="ann"))
            await requests.until_waiting(waiting, polls=4)
        again, new = await waiting
        assert again.id == first.id and not new and again.received_chunks == [0]
    finally:
        await engine.close()


async def test_a_create_stuck_behind_another_is_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(creating_module, "CREATE_WAIT", 0.2)
    engine = make_engine(tmp_path)
    await engine.open()
    try:
        digest = hashlib.md5(DATA).hexdigest()
        async with engine.leases.holding(f"create:md5:{digest}:{len(DATA)}:") as held:
            assert held is not None
            with pytest.raises(Conflict, match="another request is creating this task"):
                await engine.create_task(spec())
        task, new = await engine.create_task(spec())
        assert new and task.hash == digest
    finally:
        await engine.close()


async def test_an_unfinished_tus_upload_of_the_same_content_is_not_resumed_as_a_task(
    engine: Engine,
) -> None:
    """Resume finds the owner's *task*: a tus upload that declared the same hash is another
    protocol's resource, with its own offset rules, and stays its own."""
    digest = hashlib.md5(DATA).hexdigest()
    tus = await engine.new_upload(
        protocol="tus", owner=None, file_name="f.bin", file_type="x/y", size=len(DATA),
        digest=digest,
    )  # fmt: skip
    task, new = await engine.create_task(spec())
    assert new and task.id != tus.id and task.protocol == "tasks"


async def test_a_one_byte_task_without_a_hash_waits_for_its_hash(engine: Engine) -> None:
    """Only the empty file's hash is known without reading it; one byte is already content."""
    task, new = await engine.create_task(TaskSpec(None, "b", "x/y", 1))
    assert new and task.hash is None and task.hash_pending and not task.done
    empty, _ = await engine.create_task(TaskSpec(None, "e", "x/y", 0))
    assert empty.done and empty.hash == hashlib.md5(b"").hexdigest()


async def test_an_unknown_hash_algorithm_is_refused_by_name(engine: Engine) -> None:
    """Python embedders reach the engine without the API's schema in front of it."""
    bad = TaskSpec(hashlib.md5(DATA).hexdigest(), "f", "x/y", len(DATA), hash_algorithm="crc")
    with pytest.raises(InvalidInput) as refused:
        await engine.create_task(bad)
    assert refused.value.message == "hashAlgorithm must be one of md5, sha256"


async def test_reuse_answers_with_the_finished_task_of_that_name_only(engine: Engine) -> None:
    """`reuse` (the Python client's default) gives back the finished task under the same
    name; under another name the file is an instant copy, and without reuse as well."""
    first, _ = await engine.create_task(spec())
    for index in range(4):
        await engine.write_chunk(first.id, index, body(DATA[index * 4096 : (index + 1) * 4096]))
    again, new = await engine.create_task(replace(spec(), reuse=True))
    assert not new and again.id == first.id and again.done
    renamed, new = await engine.create_task(replace(spec(), reuse=True, file_name="g.bin"))
    assert new and renamed.id != first.id and renamed.instant
    copy, new = await engine.create_task(spec())
    assert new and copy.id not in (first.id, renamed.id) and copy.instant


async def test_a_finished_twin_deleted_meanwhile_means_uploading_the_file(
    engine: Engine,
) -> None:
    """Between finding a finished task of the same content and sharing its bytes, its owner
    may delete it: the create then makes a normal task and the file is uploaded."""
    first, _ = await engine.create_task(spec())
    for index in range(4):
        await engine.write_chunk(first.id, index, body(DATA[index * 4096 : (index + 1) * 4096]))
    await engine.data.delete(first)  # the record is still there: the moment of the race
    task, new = await engine.create_task(replace(spec(), file_name="g.bin"))
    assert new and task.id != first.id and not task.done and not task.instant
    assert task.current_chunk == 0
    for index in range(4):
        done = await engine.write_chunk(
            task.id, index, body(DATA[index * 4096 : (index + 1) * 4096])
        )
    assert done.done and not done.instant and done.hash == spec().hash


async def test_an_owned_empty_file_completes_for_its_owner_with_its_metadata(
    engine: Engine,
) -> None:
    empty = TaskSpec(hashlib.md5(b"").hexdigest(), "e", "x/y", 0, metadata={"k": "v"})
    task, new = await engine.create_task(empty, owner="alice")
    assert new and task.done and task.owner == "alice" and task.metadata == {"k": "v"}
    stored = await engine.get(task.id, "alice")
    assert stored.done and stored.metadata == {"k": "v"}


async def test_each_create_answers_with_a_fresh_challenge_kept_in_the_record(
    engine: Engine,
) -> None:
    """The proof of possession is checked against the record's challenge (any node may check
    it), so the one a client is given must be the one stored, and a resume must renew it."""
    first, _ = await engine.create_task(spec())
    resumed, new = await engine.create_task(spec())
    assert not new and resumed.id == first.id
    given = [possession.stored(task.extra) for task in (first, resumed)]
    assert given[0] is not None and given[1] is not None and given[0].nonce != given[1].nonce
    assert possession.stored((await engine.get(first.id)).extra) == given[1]


async def test_a_sha256_task_keeps_its_algorithm(engine: Engine) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    sha = TaskSpec(digest, "s", "x/y", len(DATA), hash_algorithm="sha256", chunk_size=4096)
    task, _ = await engine.create_task(sha)
    assert task.hash_algorithm == "sha256"
    assert (await engine.get(task.id)).hash_algorithm == "sha256"
