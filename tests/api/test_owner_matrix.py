"""Nobody reaches an upload that is not theirs: every route of every protocol, three callers.

upslice is mounted as in README's "Mounting" section, with `identify` returning the `x-user`
header. alice, bob and the anonymous caller (no header) each own a finished task, an unfinished
task, a tus upload, a finished tus partial and an IETF draft upload. Each cell sends one request
as one caller against another caller's upload and asserts 404 or an answer scoped to the caller.
The last test checks that all of it left every owner's uploads as they were.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.api.tus_cases import DRAFT, OCTETS, TUS
from tests.host_app import HostApp
from tests.taskflow import create, md5_hex, put_chunk

CHUNK = 1024
OWNERS: list[str | None] = ["alice", "bob", None]
PAIRS = [(actor, victim) for actor in OWNERS for victim in OWNERS if actor != victim]
PAIR_IDS = [f"{actor or 'anonymous'}->{victim or 'anonymous'}" for actor, victim in PAIRS]
PARTIAL = {**DRAFT, "Content-Type": "application/partial-upload"}


@dataclass
class Holdings:
    """What one owner holds, and the bytes behind it."""

    owner: str | None
    done_data: bytes
    half_data: bytes
    done_task: str = ""
    half_task: str = ""
    tus_half: str = ""  # absolute URLs from here on
    tus_part: str = ""
    draft_half: str = ""
    created: list[str] = field(default_factory=list)  # tasks this owner made in the matrix

    def task_ids(self) -> set[str]:
        return {self.done_task, self.half_task}


@dataclass
class World:
    host: HostApp
    holdings: dict[str | None, Holdings]

    def client(self, owner: str | None) -> httpx.Client:
        return self.host.client(owner)


def content(owner: str | None, kind: str, size: int) -> bytes:
    seed = hashlib.sha256(f"{owner}:{kind}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def build(http: httpx.Client, owner: str | None) -> Holdings:
    held = Holdings(owner, content(owner, "done", 3000), content(owner, "half", 3000))
    task = create(http, held.done_data, CHUNK).json()
    for index in range(task["chunkCount"]):
        reply = put_chunk(http, task, index, held.done_data[index * CHUNK : (index + 1) * CHUNK])
    assert reply.json()["done"]
    held.done_task = task["id"]
    half = create(http, held.half_data, CHUNK).json()
    assert put_chunk(http, half, 0, held.half_data[:CHUNK]).status_code == 200
    held.half_task = half["id"]
    made = http.post("/files/", headers={**OCTETS, "Upload-Length": "10"}, content=b"01234")
    held.tus_half = made.headers["Location"]
    part = http.post(
        "/files/",
        headers={**OCTETS, "Upload-Length": "4", "Upload-Concat": "partial"},
        content=b"part",
    )
    held.tus_part = part.headers["Location"]
    draft = http.post(
        "/files/",
        headers={**DRAFT, "Upload-Complete": "?0", "Upload-Length": "10"},
        content=b"abcde",
    )
    assert draft.status_code == 201, draft.text
    held.draft_half = draft.headers["Location"]
    return held


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    host = HostApp(tmp_path_factory.mktemp("matrix")).start()
    try:
        holdings = {}
        for owner in OWNERS:
            with host.client(owner) as http:
                holdings[owner] = build(http, owner)
        yield World(host, holdings)
    finally:
        host.stop()


UPLOAD_ID = re.compile(r"[a-z2-7]{26}")  # random ids may spell anything, "bob" included


def not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.request.method, response.request.url)
    said = UPLOAD_ID.sub("<id>", response.text)
    assert "alice" not in said and "bob" not in said


# ---- the tasks API ---------------------------------------------------------------------------

Request = Callable[[httpx.Client, Holdings], httpx.Response]
TASK_ROUTES: dict[str, Request] = {
    "status done": lambda http, v: http.get(f"/api/task/{v.done_task}"),
    "status unfinished": lambda http, v: http.get(f"/api/task/{v.half_task}"),
    "chunk": lambda http, v: http.put(
        f"/api/task/{v.half_task}/chunk/1",
        content=v.half_data[CHUNK : 2 * CHUNK],
        headers={"Content-Type": "application/octet-stream"},
    ),
    "complete": lambda http, v: http.post(f"/api/task/{v.half_task}/complete"),
    "proof": lambda http, v: http.post(f"/api/task/{v.half_task}/proof", json={"proof": "0" * 64}),
    "file GET": lambda http, v: http.get(f"/api/task/{v.done_task}/file"),
    "file HEAD": lambda http, v: http.head(f"/api/task/{v.done_task}/file"),
    "delete done": lambda http, v: http.delete(f"/api/task/{v.done_task}"),
    "delete unfinished": lambda http, v: http.delete(f"/api/task/{v.half_task}"),
}
TUS_ROUTES: dict[str, Request] = {
    "tus HEAD": lambda http, v: http.head(v.tus_half, headers=TUS),
    "tus PATCH": lambda http, v: http.patch(
        v.tus_half, headers={**OCTETS, "Upload-Offset": "5"}, content=b"56789"
    ),
    "tus DELETE": lambda http, v: http.delete(v.tus_half, headers=TUS),
    "tus GET finished part": lambda http, v: http.get(v.tus_part),
    "tus HEAD finished part": lambda http, v: http.head(v.tus_part, headers=TUS),
    "tus method override": lambda http, v: http.post(
        v.tus_half, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}
    ),
    "draft HEAD": lambda http, v: http.head(v.draft_half, headers=DRAFT),
    "draft GET offset": lambda http, v: http.get(v.draft_half, headers=DRAFT),
    "draft PATCH append": lambda http, v: http.patch(
        v.draft_half,
        headers={**PARTIAL, "Upload-Offset": "5", "Upload-Complete": "?0"},
        content=b"fg",
    ),
    "draft DELETE": lambda http, v: http.delete(v.draft_half, headers=DRAFT),
}


@pytest.mark.parametrize("route", [*TASK_ROUTES, *TUS_ROUTES])
@pytest.mark.parametrize(("actor", "victim"), PAIRS, ids=PAIR_IDS)
def test_another_owners_upload_is_not_found(
    world: World, actor: str | None, victim: str | None, route: str
) -> None:
    send = {**TASK_ROUTES, **TUS_ROUTES}[route]
    with world.client(actor) as http:
        not_found(send(http, world.holdings[victim]))


@pytest.mark.parametrize(("actor", "victim"), PAIRS, ids=PAIR_IDS)
def test_tus_concatenation_takes_only_the_callers_partials(
    world: World, actor: str | None, victim: str | None
) -> None:
    mine, theirs = world.holdings[actor], world.holdings[victim]
    with world.client(actor) as http:
        for parts in ([theirs.tus_part], [mine.tus_part, theirs.tus_part]):
            final = {**TUS, "Upload-Concat": "final;" + " ".join(parts)}
            not_found(http.post("/files/", headers=final))


@pytest.mark.parametrize(("actor", "victim"), PAIRS, ids=PAIR_IDS)
def test_resume_finds_only_the_callers_unfinished_task(
    world: World, actor: str | None, victim: str | None
) -> None:
    theirs = world.holdings[victim]
    with world.client(actor) as http:
        reply = create(http, theirs.half_data, CHUNK, name="mine.bin")
        assert reply.status_code in (200, 201), reply.text
        task = reply.json()
        world.holdings[actor].created.append(task["id"])
        assert task["id"] not in theirs.task_ids()
        assert task["fileName"] == "mine.bin" and task["uploadedBytes"] == 0


@pytest.mark.parametrize(("actor", "victim"), PAIRS, ids=PAIR_IDS)
def test_instant_upload_needs_the_bytes_across_owners(
    world: World, actor: str | None, victim: str | None
) -> None:
    theirs = world.holdings[victim]
    with world.client(actor) as http:
        reply = create(http, theirs.done_data, CHUNK, name="guess.bin")
        assert reply.status_code in (200, 201), reply.text
        task = reply.json()
        world.holdings[actor].created.append(task["id"])
        assert not task["done"] and not task["instant"] and task["fileUrl"] is None
        assert task["id"] != theirs.done_task and task["challenge"] is not None
        not_found(http.get(f"/api/task/{theirs.done_task}/file"))


@pytest.mark.parametrize("actor", OWNERS, ids=lambda o: o or "anonymous")
def test_the_list_holds_the_callers_tasks_only(world: World, actor: str | None) -> None:
    with world.client(actor) as http:
        listed = {t["id"] for t in http.get("/api/tasks", params={"limit": 1000}).json()["tasks"]}
    mine = world.holdings[actor]
    others = set().union(*(h.task_ids() | set(h.created) for h in world.holdings.values()))
    others -= mine.task_ids() | set(mine.created)
    assert mine.task_ids() <= listed
    assert listed.isdisjoint(others)


def test_every_owners_uploads_are_as_they_were(world: World) -> None:
    """Runs last: nothing the other callers sent changed, removed or completed anything."""
    for owner, held in world.holdings.items():
        with world.client(owner) as http:
            done = http.get(f"/api/task/{held.done_task}/file")
            assert done.status_code == 200 and done.content == held.done_data
            half = http.get(f"/api/task/{held.half_task}").json()
            assert half["receivedChunks"] == [0] and not half["done"]
            assert half["hash"] == md5_hex(held.half_data)
            assert http.head(held.tus_half, headers=TUS).headers["Upload-Offset"] == "5"
            assert http.get(held.tus_part).content == b"part"
            draft = http.head(held.draft_half, headers=DRAFT)
            assert draft.headers["Upload-Offset"] == "5"
            assert draft.headers["Upload-Complete"] == "?0"
