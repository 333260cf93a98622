"""tus and IETF-draft headers that would make the server store or write without bound."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.tus_cases import DRAFT, OCTETS, TUS, create
from tests.server_process import ServerProcess

MAX_PARTS = 3
MAX_SIZE = 4096


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("limits") / "data"
    args = ("--max-concat-parts", str(MAX_PARTS), "--max-file-size", str(MAX_SIZE))
    proc = ServerProcess(data, *args).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(limited: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.url, timeout=30) as http:
        yield http


def stored_bytes(data_dir: Path) -> int:
    return sum(
        p.stat().st_size for p in data_dir.rglob("*") if p.is_file() and "upslice.db" not in p.name
    )


def partial(client: httpx.Client, body: bytes) -> str:
    headers = {"Upload-Length": str(len(body)), "Upload-Concat": "partial", **OCTETS}
    return create(client, headers, body)


def test_tus_metadata_is_capped(client: httpx.Client) -> None:
    value = base64.b64encode(b"x" * 20_000).decode()
    reply = client.post(
        "/files/", headers=TUS | {"Upload-Length": "3", "Upload-Metadata": f"notes {value}"}
    )
    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert "Upload-Metadata" in error["message"] and error["maxBytes"] == 16 * 1024


def test_draft_metadata_is_capped(client: httpx.Client) -> None:
    name = "n" * 20_000
    headers = DRAFT | {
        "Upload-Complete": "?1",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    reply = client.post("/files/", headers=headers, content=b"abc")
    assert reply.status_code == 413, reply.text
    assert "Content-Disposition" in reply.json()["detail"]


def test_metadata_under_the_cap_passes(client: httpx.Client) -> None:
    value = base64.b64encode(b"x" * 10_000).decode()
    create(client, {"Upload-Length": "3", "Upload-Metadata": f"notes {value}"})


def test_a_part_named_twice_is_refused(client: httpx.Client, limited: ServerProcess) -> None:
    part = partial(client, b"x" * 1000)
    before = stored_bytes(limited.data_dir)
    reply = client.post("/files/", headers=TUS | {"Upload-Concat": f"final;{part} {part}"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["repeated"] == [part.rsplit("/", 1)[1]]
    assert stored_bytes(limited.data_dir) == before  # nothing was written


def test_too_many_parts_are_refused(client: httpx.Client) -> None:
    parts = [partial(client, b"p") for _ in range(MAX_PARTS + 1)]
    reply = client.post("/files/", headers=TUS | {"Upload-Concat": "final;" + " ".join(parts)})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["maxParts"] == MAX_PARTS
    fits = client.post("/files/", headers=TUS | {"Upload-Concat": "final;" + " ".join(parts[1:])})
    assert fits.status_code == 201 and client.get(fits.headers["Location"]).content == b"ppp"


def test_parts_beyond_the_size_limit_are_refused(
    client: httpx.Client, limited: ServerProcess
) -> None:
    parts = [partial(client, b"y" * (MAX_SIZE // 2 + 1)) for _ in range(2)]
    before = stored_bytes(limited.data_dir)
    reply = client.post("/files/", headers=TUS | {"Upload-Concat": "final;" + " ".join(parts)})
    assert reply.status_code == 413, reply.text
    assert stored_bytes(limited.data_dir) == before
