"""What the tus and IETF-draft front ends share: header syntax (Upload-Metadata, Upload-Concat,
dates), what the server advertises, and request helpers.

Parsing is strict: a malformed header is an InvalidInput (400), never silently half-read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from starlette.requests import Request

from upslice.api import mediatype
from upslice.api.bodies import raw_body
from upslice.api.identity import owner_of
from upslice.api.schemas import MAX_METADATA_BYTES
from upslice.engine import Engine, utcnow
from upslice.errors import BodyTimeout, Gone, InvalidInput, TooLarge
from upslice.hashing import CHECKSUM_ALGORITHMS, FILE_HASHES, Checksum
from upslice.record import UNHASHED, Upload

TUS_VERSION = "1.0.0"
SUPPORTED_VERSIONS = (TUS_VERSION,)
PATCH_TYPE = "application/offset+octet-stream"

# Every response header a tus or IETF-draft client reads; browsers ignore a "*" here when the
# request carries credentials, so CORS exposes this explicit list.
CORS_EXPOSE_HEADERS = [
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Complete",
    "Upload-Incomplete",
    "Upload-Draft-Interop-Version",
    "Upload-Limit",
    "Repr-Digest",
    "ETag",
    "Content-Disposition",
    "Content-Range",
    "X-Request-Id",
    "Retry-After",
]

_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII without space and comma
_FILES_PATH = re.compile(r"(?:^|/)files/([A-Za-z0-9_-]+)/?$")


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def live_upload(request: Request, upload_id: str) -> Upload:
    """The caller's upload, or 404; 410 when it expired but the sweeper has not removed it."""
    upload = await engine_of(request).get(upload_id, await owner_of(request))
    if not upload.done and upload.expires_at is not None and upload.expires_at < utcnow():
        raise Gone("the upload has expired", uploadId=upload_id)
    return upload


def file_hash_algorithm(request: Request, algorithm: str, digest: str | None) -> str:
    """The algorithm to hash a new tus/IETF upload with: none when no hash was declared,
    unless the server hashes every upload (`--hash-undeclared`). A byte nobody asked to
    verify then costs a write and a CRC-32, as in the other tus servers."""
    if digest is None and not request.app.state.settings.hash_undeclared:
        return UNHASHED
    return algorithm


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return None if value is None else parse_length(value, "Content-Length")


def has_body(request: Request) -> bool:
    length = content_length(request)
    if length is not None:
        return length > 0
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


class TrackedBody:
    """A request body stream that remembers whether it arrived whole (or the client left)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.whole = False
        self.stalled: BodyTimeout | None = None

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for piece in raw_body(self.request):
                yield piece
        except BodyTimeout as exc:
            self.stalled = exc  # the engine keeps what came before, like a cut body
            raise
        self.whole = True

    def raise_if_stalled(self) -> None:
        """After the engine kept the bytes before a stall: answer 408 (HEAD tells the offset)."""
        if self.stalled is not None:
            raise self.stalled


def extensions(engine: Engine) -> list[str]:
    """The tus extensions this front end offers over the wired-in engine and store."""
    names = ["creation", "creation-with-upload", "creation-defer-length", "termination"]
    if engine.data.can_concatenate:
        names += ["concatenation", "concatenation-unfinished"]
    if engine.limits.expiry.total_seconds() > 0:
        names.append("expiration")
    if CHECKSUM_ALGORITHMS:
        names += ["checksum", "checksum-trailer"]
    return names


def capability_headers(engine: Engine) -> dict[str, str]:
    headers = {
        "Tus-Version": ",".join(SUPPORTED_VERSIONS),
        "Tus-Extension": ",".join(extensions(engine)),
        "Tus-Max-Size": str(engine.limits.max_file_size),
    }
    if CHECKSUM_ALGORITHMS:
        headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
    return headers


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, as in `Upload-Expires`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_length(value: str, header: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise InvalidInput(f"{header} must be a non-negative integer, not {value!r}")
    return int(value)


@dataclass
class Metadata:
    """A parsed `Upload-Metadata` header: values are raw bytes, or None for a bare key."""

    raw: str = ""
    pairs: dict[str, bytes | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, header: str | None) -> Metadata:
        if header is None or not header.strip():
            return cls()
        limit_metadata(header, "Upload-Metadata")
        pairs: dict[str, bytes | None] = {}
        for item in header.split(","):
            parts = item.strip().split(" ")
            key = parts[0]
            if len(parts) > 2 or not _KEY.match(key):
                raise InvalidInput(f"Upload-Metadata: malformed pair {item.strip()!r}")
            if key in pairs:
                raise InvalidInput(f"Upload-Metadata: key {key!r} appears twice")
            pairs[key] = _b64(parts[1], key) if len(parts) == 2 else None
        return cls(header.strip(), pairs)

    def text(self, key: str, default: str = "") -> str:
        value = self.pairs.get(key)
        return default if value is None else value.decode("utf-8", errors="replace")

    def file_type(self) -> str:
        """The `filetype` value, checked: it becomes the download's Content-Type."""
        return mediatype.checked(self.text("filetype") or mediatype.DEFAULT, "filetype")

    def as_record(self) -> dict[str, str | None]:
        """What the upload record keeps (text; the raw header is kept for the HEAD echo)."""
        return {
            k: None if v is None else v.decode("utf-8", "replace") for k, v in self.pairs.items()
        }

    def file_hash(self) -> tuple[str, str | None]:
        """(algorithm, hex digest) of the whole file from the `checksum` key, if any."""
        value = self.pairs.get("checksum")
        if value is None:
            return "md5", None
        try:
            checksum = Checksum.parse_upload_checksum(value.decode("ascii"))
        except (UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"Upload-Metadata checksum: {exc}") from None
        if checksum.algorithm not in FILE_HASHES:
            raise InvalidInput(
                f"Upload-Metadata checksum must use one of {', '.join(FILE_HASHES)}",
                supported=list(FILE_HASHES),
            )
        return checksum.algorithm, checksum.digest.hex()


def limit_metadata(value: str, header: str) -> None:
    """Metadata is kept in the record and echoed on every HEAD: the tasks API's cap applies."""
    if len(value) > MAX_METADATA_BYTES:
        raise TooLarge(
            f"{header} is {len(value)} bytes; at most {MAX_METADATA_BYTES} are accepted",
            header=header,
            maxBytes=MAX_METADATA_BYTES,
        )


def _b64(encoded: str, key: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"Upload-Metadata: the value of {key!r} is not base64") from None


@dataclass(frozen=True)
class Concat:
    """`Upload-Concat: partial` or `final;<url> <url> ...` (ids taken from the URLs)."""

    kind: str  # "partial" | "final"
    parts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, header: str | None) -> Concat | None:
        if header is None:
            return None
        value = header.strip()
        if value == "partial":
            return cls("partial")
        kind, sep, urls = value.partition(";")
        if kind.strip() != "final" or not sep or not urls.split():
            raise InvalidInput(f"Upload-Concat must be 'partial' or 'final;<urls>', not {value!r}")
        ids = []
        for url in urls.split():
            match = _FILES_PATH.search(urlsplit(url).path)
            if match is None:
                raise InvalidInput(f"Upload-Concat: {url!r} is not an upload URL of this server")
            ids.append(match[1])
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if repeated:  # one partial named N times would write its bytes N times
            raise InvalidInput(
                f"Upload-Concat names {len(repeated)} partial upload(s) more than once",
                repeated=repeated,
            )
        return cls("final", tuple(ids))
