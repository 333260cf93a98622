"""The flow.js family's parameters: three spellings, one geometry (pure, no server)."""

from __future__ import annotations

import base64
import hashlib
import json

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


def test_custom_fields_keep_their_own_names() -> None:
    assert canonical("Project") == "Project"
    assert canonical("flowProject") == "project"  # not a known name: kept as it was sent
    parsed = params(1, 10, flowProject="apollo", Album="x")
    assert parsed.metadata()["flowProject"] == "apollo" and parsed.metadata()["Album"] == "x"


@pytest.mark.parametrize("identifier", [None, "", "x" * 1025])
def test_an_identifier_is_required_and_bounded(identifier: str | None) -> None:
    values = {"chunkNumber": "1", "chunkSize": "1024", "totalSize": "10", "totalChunks": "1"}
    if identifier is not None:
        values["identifier"] = identifier
    with pytest.raises(InvalidInput, match="identifier is required, at most 1024"):
        FlowParams.parse(values)
    assert FlowParams.parse({**values, "identifier": "x" * 1024}).identifier == "x" * 1024


def test_the_smallest_values_each_field_takes() -> None:
    """An empty file (totalSize 0) in chunks of one byte: one chunk; without totalChunks, the
    count follows from the sizes; a missing or too small value is named."""
    empty = FlowParams.parse(
        {"identifier": "id-1", "chunkNumber": "1", "chunkSize": "1", "totalSize": "0"}
    )
    assert (empty.chunk_size, empty.total_size, empty.total_chunks, empty.length) == (1, 0, 1, 0)
    counted = FlowParams.parse(
        {"identifier": "id-1", "chunkNumber": "1", "chunkSize": "1024", "totalSize": "10245"}
    )
    assert counted.total_chunks == 10
    with pytest.raises(InvalidInput, match="totalSize is required"):
        FlowParams.parse({"identifier": "id-1", "chunkNumber": "1", "chunkSize": "1"})
    with pytest.raises(InvalidInput, match="chunkSize must be an integer of at least 1"):
        FlowParams.parse(
            {"identifier": "id-1", "chunkNumber": "1", "chunkSize": "0", "totalSize": "0"}
        )


def test_a_chunk_count_that_does_not_fit_names_what_would() -> None:
    with pytest.raises(InvalidInput) as refused:
        params(1, 2, size=100)
    assert refused.value.details["expected"] == [1]
    with pytest.raises(InvalidInput) as refused:
        params(1, 9)
    assert refused.value.details["expected"] == [10, 11]


PLAIN = {"chunkNumber": "1", "chunkSize": "1024", "totalSize": "10", "identifier": "id-1"}


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ({"filename": "a.txt", "relativePath": "dir/b.txt"}, "a.txt"),
        ({"filename": "a.txt"}, "a.txt"),
        ({"relativePath": "dir/b.txt"}, "dir/b.txt"),
        ({}, "id-1"),
    ],
)
def test_the_file_name_falls_back_to_the_path_then_the_identifier(
    sent: dict[str, str], name: str
) -> None:
    assert FlowParams.parse({**sent, **PLAIN}).filename == name


def test_path_type_and_custom_fields_are_kept_as_sent() -> None:
    sent = params(1, 10, relativePath="photos/a.png", type="image/webp", album="x")
    assert (sent.relative_path, sent.file_type) == ("photos/a.png", "image/webp")
    assert sent.metadata() == {"identifier": "id-1", "relativePath": "photos/a.png", "album": "x"}
    bare = params(1, 10, filename="a.png")
    assert (bare.relative_path, bare.file_type) == ("", "image/png")  # the type from the name


def test_custom_fields_up_to_their_limit() -> None:
    at_limit = "x" * (4096 - len('{"k": ""}'))
    assert params(1, 10, k=at_limit).extra == {"k": at_limit}
    with pytest.raises(InvalidInput, match="custom fields must stay under 4096 bytes"):
        params(1, 10, k=at_limit + "x")


def test_the_current_chunk_size_is_checked_and_named() -> None:
    empty = {"identifier": "e", "chunkNumber": "1", "chunkSize": "1", "totalSize": "0"}
    assert FlowParams.parse({**empty, "currentChunkSize": "0"}).length == 0
    with pytest.raises(InvalidInput) as refused:
        params(1, 10, currentChunkSize="5")
    assert refused.value.details["expectedSize"] == KiB


def test_a_record_id_is_lower_case_base32_of_sixteen_bytes() -> None:
    record = params(1, 10).upload_id("alice")
    assert record == record.lower() and len(record) == 26 and "=" not in record
    key = json.dumps(["flow", "alice", "id-1", 10 * KiB + 5]).encode()
    expected = base64.b32encode(hashlib.sha256(key).digest()[:16]).decode().rstrip("=").lower()
    assert record == expected, "ids of records already stored must stay the same"


def test_a_chunk_md5_is_hex_of_either_case() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    for spelled in (digest, digest.upper()):
        checksum = params(1, 10, chunkMd5=spelled).checksum()
        assert checksum is not None and checksum.algorithm == "md5"
        assert checksum.digest == bytes.fromhex(digest)
    with pytest.raises(InvalidInput, match=r"^chunkMd5 must be 32 hex digits$"):
        params(1, 10, chunkMd5="g" * 32).checksum()
