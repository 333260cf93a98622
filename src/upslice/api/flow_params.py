"""The parameters every flow.js-family request carries, read under any of the three spellings.

resumable.js prefixes them `resumable` (`resumableChunkNumber`), flow.js `flow`
(`flowChunkNumber`), simple-uploader.js not at all (`chunkNumber`). Each request names its
chunk by number and the client's own chunk size; the byte range follows from those, with the
last chunk reaching the end of the file (up to twice the chunk size unless `forceChunkSize`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from upslice.api import mediatype
from upslice.errors import InvalidInput
from upslice.hashing import Checksum

PREFIX = re.compile(r"^(?:resumable|flow)(?=[A-Z])")
KNOWN = {
    "chunkNumber",
    "chunkSize",
    "currentChunkSize",
    "totalSize",
    "totalChunks",
    "identifier",
    "filename",
    "relativePath",
    "type",
    "chunkMd5",
}
MAX_IDENTIFIER = 1024
MAX_EXTRA_FIELDS = 4096  # bytes of custom `query` fields kept as the record's metadata
HASH_OF_LENGTH = {32: "md5", 64: "sha256"}


def canonical(name: str) -> str:
    """`resumableChunkNumber` and `flowChunkNumber` -> `chunkNumber`."""
    stripped = PREFIX.sub("", name)
    return stripped[:1].lower() + stripped[1:] if stripped != name else name


@dataclass(frozen=True)
class FlowParams:
    chunk_number: int
    chunk_size: int
    total_size: int
    total_chunks: int
    identifier: str
    filename: str
    relative_path: str
    file_type: str
    chunk_md5: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> FlowParams:
        known: dict[str, str] = {}
        extra: dict[str, str] = {}
        for name, value in values.items():
            key = canonical(name)
            (known if key in KNOWN else extra)[key if key in KNOWN else name] = value
        identifier = known.get("identifier", "")
        if not identifier or len(identifier) > MAX_IDENTIFIER:
            raise InvalidInput(f"identifier is required, at most {MAX_IDENTIFIER} characters")
        size = _integer(known, "totalSize", 0)
        chunk_size = _integer(known, "chunkSize", 1)
        number = _integer(known, "chunkNumber", 1)
        floor_count = max(size // chunk_size, 1)  # the default: the last chunk absorbs the rest
        ceil_count = max(-(-size // chunk_size), 1)  # forceChunkSize: true
        total = _integer(known, "totalChunks", 1) if "totalChunks" in known else floor_count
        if total not in (floor_count, ceil_count):
            raise InvalidInput(
                f"totalChunks {total} does not fit totalSize {size} in chunks of {chunk_size}",
                expected=sorted({floor_count, ceil_count}),
            )
        if number > total:
            raise InvalidInput(f"chunkNumber {number} is beyond totalChunks {total}")
        filename = known.get("filename") or known.get("relativePath") or identifier
        if len(json.dumps(extra)) > MAX_EXTRA_FIELDS:
            raise InvalidInput(f"custom fields must stay under {MAX_EXTRA_FIELDS} bytes as JSON")
        params = cls(
            chunk_number=number,
            chunk_size=chunk_size,
            total_size=size,
            total_chunks=total,
            identifier=identifier,
            filename=filename,
            relative_path=known.get("relativePath", ""),
            file_type=known.get("type") or mediatype.guess(filename),
            chunk_md5=known.get("chunkMd5") or None,
            extra=extra,
        )
        if "currentChunkSize" in known:
            current = _integer(known, "currentChunkSize", 0)
            if current != params.length:
                raise InvalidInput(
                    f"currentChunkSize {current} differs from chunk {number}'s "
                    f"{params.length} bytes",
                    expectedSize=params.length,
                )
        return params

    def bounds(self, number: int) -> tuple[int, int]:
        """Byte range [start, end) of chunk `number` (1-based), as the client cuts it."""
        start = (number - 1) * self.chunk_size
        end = self.total_size if number == self.total_chunks else start + self.chunk_size
        return start, end

    @property
    def start(self) -> int:
        return self.bounds(self.chunk_number)[0]

    @property
    def length(self) -> int:
        start, end = self.bounds(self.chunk_number)
        return end - start

    @property
    def file_hash(self) -> tuple[str, str] | None:
        """(algorithm, hex) when the identifier is an MD5 or SHA-256 hex, as spark-md5 gives."""
        algorithm = HASH_OF_LENGTH.get(len(self.identifier))
        if algorithm is None or not re.fullmatch(r"[0-9a-fA-F]+", self.identifier):
            return None
        return algorithm, self.identifier.lower()

    def checksum(self) -> Checksum | None:
        """The chunk's MD5 from a `chunkMd5` field (hex), if the client sent one."""
        if self.chunk_md5 is None:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{32}", self.chunk_md5):
            raise InvalidInput("chunkMd5 must be 32 hex digits")
        return Checksum("md5", bytes.fromhex(self.chunk_md5))

    def upload_id(self, owner: str | None) -> str:
        """The record id for this owner's file: the protocol names files by identifier only.

        Derived from owner, identifier and size, so every node finds the same record without
        a lookup table; the owner is part of it, so two owners never share a record.
        """
        key = json.dumps(["flow", owner, self.identifier, self.total_size]).encode()
        digest = hashlib.sha256(key).digest()[:16]
        return base64.b32encode(digest).decode().rstrip("=").lower()

    def metadata(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "relativePath": self.relative_path, **self.extra}


def _integer(values: Mapping[str, str], name: str, minimum: int) -> int:
    raw = values.get(name)
    if raw is None:
        raise InvalidInput(f"{name} is required")
    if not raw.strip().isdigit() or int(raw) < minimum:
        raise InvalidInput(f"{name} must be an integer of at least {minimum}, not {raw!r}")
    return int(raw)
