"""Request bodies as async byte streams: raw, or one multipart field, never buffered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from upslice.errors import BodyTimeout, ClientGone, InvalidInput, UnsupportedMediaType
from upslice.hashing import TASK_CHECKSUMS, Checksum

RAW_TYPES = ("", "application/octet-stream", "application/offset+octet-stream")
FORM_TYPE = "multipart/form-data"


async def raw_body(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; a dropped connection becomes ClientGone, a stalled one
    (nothing for the body timeout) BodyTimeout, so a slow client cannot hold a request open."""
    stall: float = request.app.state.settings.body_timeout
    pieces = aiter(request.stream())
    while True:
        try:
            async with asyncio.timeout(stall):
                piece = await anext(pieces)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout(f"no body bytes arrived for {stall:g} s", bodyTimeout=stall) from None
        except ClientDisconnect:
            raise ClientGone("the connection closed before the body ended") from None
        yield piece


async def multipart_field(request: Request, field: str) -> AsyncIterator[bytes]:
    """The bytes of one form field, streamed as the parser finds them."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("multipart/form-data without a boundary")
    found: list[bytes] = []
    state = {"headers": b"", "name": None, "in_field": False, "seen": False, "ended": False}
    header_field = bytearray()
    header_value = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        if bytes(header_field).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(header_value))
            state["in_field"] = options.get(b"name") == field.encode()
        header_field.clear()
        header_value.clear()

    def on_part_begin() -> None:
        state["in_field"] = False

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_field"]:
            state["seen"] = True
            found.append(data[start:end])

    def on_part_end() -> None:
        if state["in_field"]:
            state["ended"] = True
            state["in_field"] = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for piece in raw_body(request):
            parser.write(piece)
            if found:
                yield b"".join(found)
                found.clear()
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidInput(f"malformed multipart/form-data body: {exc}") from None
    if found:
        yield b"".join(found)
    if not state["seen"] and not state["ended"]:
        raise InvalidInput(f"the multipart body has no field named {field!r}")


def chunk_body(request: Request, field: str = "chunk") -> AsyncIterator[bytes]:
    """Pick the body reader from the Content-Type, or refuse the type with 415."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == FORM_TYPE:
        return multipart_field(request, field)
    if media_type in RAW_TYPES:
        return raw_body(request)
    raise UnsupportedMediaType(
        f"unsupported Content-Type {media_type!r}",
        accepted=["application/octet-stream", FORM_TYPE],
    )


def declared_length(request: Request) -> int | None:
    """Content-Length of a raw body (a multipart envelope is longer than its chunk)."""
    value = request.headers.get("content-length")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if value is None or media_type == FORM_TYPE:
        return None
    if not value.isdigit():
        raise InvalidInput("Content-Length must be a non-negative integer")
    return int(value)


def body_checksum(request: Request) -> Checksum | None:
    """A per-request digest from `Upload-Checksum` (tus syntax, crc32 too) or `Content-MD5`."""
    if header := request.headers.get("upload-checksum"):
        return Checksum.parse_upload_checksum(header, TASK_CHECKSUMS)
    if header := request.headers.get("content-md5"):
        return Checksum.parse_content_md5(header)
    return None
