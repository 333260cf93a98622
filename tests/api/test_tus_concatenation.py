"""tus concatenation-unfinished and the fate of partial uploads once joined, against two real
server processes sharing a data directory and database, as two nodes of a cluster: the first
with the default (partials removed once joined), the second with --tus-keep-partials."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import OCTETS, TUS, create
from tests.server_process import ServerProcess


def partial(client: httpx.Client, length: int | None, body: bytes = b"") -> str:
    size = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    return create(client, {**size, "Upload-Concat": "partial", **OCTETS}, body)


def final(client: httpx.Client, *parts: str) -> str:
    return create(client, {"Upload-Concat": "final;" + " ".join(parts)})


def task(client: httpx.Client, url: str) -> dict[str, object]:
    """The upload as the tasks API reports it (a read that never triggers a join)."""
    found: dict[str, object] = client.get(f"/api/task/{url.rsplit('/', 1)[1]}").json()
    return found


def patch(client: httpx.Client, url: str, offset: int, body: bytes, **headers: str) -> None:
    sent = client.patch(
        url, headers=OCTETS | {"Upload-Offset": str(offset)} | headers, content=body
    )
    assert sent.status_code == 204, sent.text


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    data = tmp_path_factory.mktemp("concat") / "data"
    first = ServerProcess(data).start()
    second = ServerProcess(data, "--tus-keep-partials").start()
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture
def one(nodes: tuple[ServerProcess, ...]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=nodes[0].url, timeout=30) as client:
        yield client


def test_a_final_waits_for_its_partials_then_completes(one: httpx.Client) -> None:
    done = partial(one, 6, b"Hello ")
    receiving = partial(one, 6, b"wor")
    url = final(one, done, receiving)
    head = one.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Concat"] == f"final;{done} {receiving}"
    assert "Upload-Offset" not in head.headers and "Upload-Length" not in head.headers
    assert "Upload-Defer-Length" not in head.headers, "not deferred: it waits for its parts"
    assert task(one, url)["done"] is False
    patch(one, receiving, 3, b"ld!")
    assert task(one, url)["done"] is True  # joined by the request that finished the partial
    head = one.head(url, headers=TUS)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "12"
    assert one.get(url).content == b"Hello world!"
    for part in (done, receiving):  # joined, referenced by no other final: removed
        assert one.head(part, headers=TUS).status_code == 404


def test_a_deferred_length_partial_ends_the_wait(one: httpx.Client) -> None:
    """What tus-js-client's parallelUploads with uploadLengthDeferred would send."""
    first, second = partial(one, None, b"abc"), partial(one, None, b"de")
    url = final(one, first, second)
    patch(one, first, 3, b"", **{"Upload-Length": "3"})
    assert task(one, url)["done"] is False
    patch(one, second, 2, b"f", **{"Upload-Length": "3"})
    assert one.get(url).content == b"abcdef"


def test_the_join_happens_on_the_node_that_finishes_the_last_partial(
    nodes: tuple[ServerProcess, ...], one: httpx.Client
) -> None:
    with httpx.Client(base_url=nodes[1].url, timeout=30) as other:
        receiving = partial(one, 4, b"ab")
        url = final(one, receiving)
        on_other = receiving.replace(nodes[0].url, nodes[1].url)
        patch(other, on_other, 2, b"cd")
        assert task(one, url)["done"] is True, "the other node did not join the final"
        assert one.get(url).content == b"abcd"
        # the joining node keeps partials: this one survived because the second node joined
        assert one.get(receiving).content == b"abcd"


def test_a_partial_another_final_waits_for_is_kept(one: httpx.Client) -> None:
    shared = partial(one, 2, b"xy")
    receiving = partial(one, 2)
    waiting = final(one, shared, receiving)
    joined = final(one, shared)  # complete at once, but `waiting` still needs `shared`
    assert one.get(joined).content == b"xy"
    assert one.head(shared, headers=TUS).status_code == 200
    patch(one, receiving, 0, b"zz")
    assert one.get(waiting).content == b"xyzz"
    assert one.head(shared, headers=TUS).status_code == 404


def test_keep_partials(nodes: tuple[ServerProcess, ...]) -> None:
    with httpx.Client(base_url=nodes[1].url, timeout=30) as keeping:
        parts = [partial(keeping, 1, b"a"), partial(keeping, 1, b"b")]
        assert keeping.get(final(keeping, *parts)).content == b"ab"
        assert [keeping.get(part).content for part in parts] == [b"a", b"b"]


def test_a_final_whose_partial_was_deleted_says_so(one: httpx.Client) -> None:
    """It can never complete: 410 naming the partial, not a final that waits forever."""
    gone, other = partial(one, 2, b"ab"), partial(one, 2)
    url = final(one, gone, other)
    assert one.delete(gone, headers=TUS).status_code == 204
    head = one.head(url, headers=TUS)
    assert head.status_code == 410
    got = one.get(url, headers=TUS)  # GET: the same answer, with a body that says why
    assert got.status_code == 410
    error = got.json()["error"]
    assert error["code"] == "gone" and error["partialUploadId"] == gone.rsplit("/", 1)[1]
    assert "deleted or expired" in error["message"]
    patch(one, other, 0, b"cd")  # finishing the other partial is still fine, and joins nothing
    assert task(one, url)["done"] is False
    assert one.head(url, headers=TUS).status_code == 410
