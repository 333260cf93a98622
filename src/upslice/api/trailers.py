"""Request trailers, for tus `checksum-trailer`: an `Upload-Checksum` sent after a chunked body.

ASGI has no message for request trailers. Under upslice's own HTTP protocol
(`upslice.httpserver`), fields that arrive after the body go into a list in the request's scope
(`TRAILERS`) instead of among its headers; they are complete once the body has been read. Under
any other server the list is absent and an announced trailer counts as missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from upslice.errors import ChecksumMismatch, InvalidInput
from upslice.hashing import CHECKSUM_ALGORITHMS, Checksum, new_hasher
from upslice.httpserver import TRAILERS

CHECKSUM = "upload-checksum"


def trailers(request: Request) -> dict[str, str]:
    fields: list[tuple[bytes, bytes]] = request.scope.get(TRAILERS) or []
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in fields}


def announces_checksum(request: Request) -> bool:
    """The request says (`Trailer: Upload-Checksum`) that its checksum comes after the body."""
    announced = request.headers.get("trailer", "").lower().split(",")
    return CHECKSUM in (name.strip() for name in announced)


async def checked_by_trailer(request: Request, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`body`, digested with every algorithm the trailer may name; after the last piece the
    trailer is checked, and a mismatch raises before the engine could keep any of it."""
    hashers = {name: new_hasher(name) for name in CHECKSUM_ALGORITHMS}
    async for piece in body:
        for hasher in hashers.values():
            hasher.update(piece)
        yield piece
    header = trailers(request).get(CHECKSUM)
    if header is None:
        raise InvalidInput("the request announced an Upload-Checksum trailer but sent none")
    checksum = Checksum.parse_upload_checksum(header)
    if hashers[checksum.algorithm].digest() != checksum.digest:
        raise ChecksumMismatch(
            f"{checksum.algorithm} checksum of the body does not match the trailer",
            algorithm=checksum.algorithm,
        )
