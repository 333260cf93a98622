"""The flow.js family's parameters: three spellings, one geometry (pure, no server)."""

from __future__ import annotations

import pytest

from upslice.api.flow_params import FlowParams, canonical
from upslice.errors import InvalidInput

KiB = 1024


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resumableChunkNumber", "chunkNumber"),
        ("flowChunkNumber", "chunkNumber"),
        ("chunkNumber", "chunkNumber"),
        ("resumableType", "type"),
        ("flowFilename", "filename"),
        ("flowers", "flowers"),  # a custom field that merely starts with "flow"
    ],
)
def test_every_spelling_means_the_same(name: str, expected: str) -> None:
    assert canonical(name) == expected


def params(number: int, total: int, size: int = 10 * KiB + 5, **extra: str) -> FlowParams:
    return FlowParams.parse(
        {
            "chunkNumber": str(number),
            "chunkSize": str(KiB),
            "totalSize": str(size),
            "totalChunks": str(total),
            "identifier": "id-1",
            **extra,
        }
    )


def test_the_last_chunk_takes_the_rest_or_is_short_when_forced() -> None:
    assert params(10, 10).bounds(10) == (9 * KiB, 10 * KiB + 5)  # default: floor(size/chunk)
    assert params(11, 11).bounds(11) == (10 * KiB, 10 * KiB + 5)  # forceChunkSize: ceil
    assert params(3, 10).bounds(3) == (2 * KiB, 3 * KiB)
    assert params(1, 1, size=100).length == 100  # a file smaller than one chunk
    with pytest.raises(InvalidInput, match="does not fit"):
        params(1, 12)


def test_hash_identifiers_and_owner_scoped_ids() -> None:
    md5 = "A" * 32
    assert params(1, 10, identifier=md5).file_hash == ("md5", "a" * 32)
    assert params(1, 10, identifier="b" * 64).file_hash == ("sha256", "b" * 64)
    assert params(1, 10, identifier="g" * 32).file_hash is None
    one = params(1, 10)
    assert one.upload_id("alice") != one.upload_id("bob") != one.upload_id(None)
    assert one.upload_id("alice") == params(2, 10).upload_id("alice"), "every chunk, one record"
    assert params(1, 10, project="apollo").metadata()["project"] == "apollo"
