"""Two PATCHes at the same offset of one upload, in flight together (tus and the IETF draft).

A client that lost track of the offset, or two tabs resuming the same upload, send bytes for
the same range at the same time. Exactly one may win; the other is refused (423 locked, or
409 for the stale offset) and the stored bytes are the winner's, never a mix.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.api.tus_cases import DRAFT, OCTETS, TUS
from tests.server_process import ServerProcess
from tests.waiting import wait_for

SIZE = 64 * 1024
BODIES = (b"A" * SIZE, b"B" * SIZE)
PROTOCOLS = {
    "tus": (
        {**TUS, "Upload-Length": str(SIZE)},
        {**OCTETS, "Upload-Offset": "0"},
        {204},
        TUS,
    ),
    "ietf": (
        {**DRAFT, "Upload-Complete": "?0", "Upload-Length": str(SIZE)},
        {
            **DRAFT,
            "Content-Type": "application/partial-upload",
            "Upload-Offset": "0",
            "Upload-Complete": "?1",
        },
        {200, 204},
        DRAFT,
    ),
}


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_two_patches_at_the_same_offset_exactly_one_wins(
    module_server: ServerProcess, module_client: httpx.Client, protocol: str
) -> None:
    create_headers, patch_headers, won, head_headers = PROTOCOLS[protocol]
    url = module_client.post("/files/", headers=create_headers).headers["Location"]
    path = httpx.URL(url).path
    go = threading.Event()
    replies: dict[int, httpx.Response | httpx.TransportError] = {}

    def body(data: bytes) -> Iterator[bytes]:
        yield data[:1024]  # the headers and a first piece are in: the request is in flight
        go.wait(30)
        yield data[1024:]

    def send(which: int) -> None:
        with httpx.Client(timeout=30) as own:
            try:
                replies[which] = own.patch(url, headers=patch_headers, content=body(BODIES[which]))
            except httpx.TransportError as exc:  # refused early, the connection then closed
                replies[which] = exc

    def refusals() -> list[str]:
        """The server's access lines (`upslice.access: PATCH <path> <status> <ms>`) refusing it."""
        lines = module_server.log().splitlines()
        return [
            line for line in lines if f"PATCH {path} 423 " in line or f"PATCH {path} 409 " in line
        ]

    threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    try:  # both bodies are held: only a refusal can be answered before `go`
        wait_for(lambda: bool(refusals()), "one PATCH to be refused while the other writes", 15)
    finally:
        go.set()
        for thread in threads:
            thread.join(30)
    assert len(refusals()) == 1
    winners = [
        i for i, r in replies.items() if isinstance(r, httpx.Response) and r.status_code in won
    ]
    assert len(winners) == 1, replies
    loser = replies[1 - winners[0]]
    assert not isinstance(loser, httpx.Response) or loser.status_code in (409, 423), loser
    head = module_client.head(url, headers=head_headers)
    assert head.headers["Upload-Offset"] == str(SIZE)
    assert module_client.get(url).content == BODIES[winners[0]]
