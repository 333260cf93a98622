"""Finished files over HTTP: single byte ranges, ETag validators, a safe Content-Disposition."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from upslice.api import mediatype
from upslice.record import Upload
from upslice.stores.base import DataStore

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_disposition(file_name: str) -> str:
    """RFC 6266 with an ASCII fallback; quotes, slashes and control characters never pass."""
    cleaned = "".join(c for c in file_name if unicodedata.category(c)[0] != "C")
    cleaned = cleaned.replace("/", "_").replace("\\", "_").strip() or "download"
    fallback = "".join(c if c.isascii() and c not in '"%;' else "_" for c in cleaned)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def etag(upload: Upload) -> str:
    if upload.hash is None:  # an unhashed upload: its finished bytes never change either
        return f'"{upload.id}"'
    return f'"{upload.hash_algorithm}-{upload.hash}"'


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `bytes=` range; None when unsatisfiable, ValueError if malformed."""
    match = RANGE.match(header.strip())
    if match is None or (not match[1] and not match[2]):
        raise ValueError("malformed range")
    if not match[1]:  # suffix: the last N bytes
        length = int(match[2])
        return (max(0, size - length), size) if length and size else None
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    if match[2] and int(match[2]) < start:
        raise ValueError("malformed range")
    return (start, end) if start < size else None


def file_response(request: Request, store: DataStore, upload: Upload) -> Response:
    size = upload.size or 0
    tag = etag(upload)
    media_type = mediatype.safe(upload.file_type)  # records from before types were checked
    headers = {
        "ETag": tag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(upload.file_name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and "," not in range_header and (if_range is None or if_range == tag):
        try:
            wanted = parse_range(range_header, size)
        except ValueError:
            wanted = (0, size)  # a malformed Range is ignored (RFC 9110 section 14.2)
            range_header = None
        if wanted is None:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status_code=416, headers=headers)
        if range_header:
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD" or start == end:
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        store.read(upload, start, end),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )
