from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upslice import hashing
from upslice.errors import ChecksumMismatch, ClientGone, InvalidInput, WrongChunk
from upslice.hashing import (
    TASK_CHECKSUMS,
    Checksum,
    Crc32,
    Crc32c,
    DigestingStream,
    normalize_file_hash,
    segment_hasher,
)

MiB = 1024 * 1024


async def pieces(*parts: bytes, cut: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if cut:
        raise ClientGone("gone")


async def drain(stream: DigestingStream) -> bytes:
    return b"".join([block async for block in stream.blocks()])


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_crc32_matches_zlib_over_any_split(parts: list[bytes]) -> None:
    crc = Crc32()
    for part in parts:
        crc.update(part)
    assert crc.hexdigest() == f"crc32:{zlib.crc32(b''.join(parts)):08x}"


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_crc32c_is_the_same_over_any_split(parts: list[bytes]) -> None:
    crc = Crc32c()
    for part in parts:
        crc.update(part)
    whole = Crc32c()
    whole.update(b"".join(parts))
    assert crc.hexdigest() == whole.hexdigest()


def test_crc32c_is_castagnoli_and_old_segments_keep_their_crc32() -> None:
    crc = Crc32c()
    crc.update(b"123456789")
    assert crc.hexdigest() == "crc32c:e3069283"  # the standard check value (RFC 3720)
    assert isinstance(segment_hasher("crc32:cbf43926"), Crc32)
    assert isinstance(segment_hasher("crc32c:e3069283"), Crc32c)


async def test_segment_digest_is_the_crc32c_of_the_body() -> None:
    stream = DigestingStream(pieces(b"1234", b"56789"), expected_length=9)
    assert await drain(stream) == b"123456789"
    assert stream.digest == "crc32c:e3069283"


def test_checksum_headers_parse_or_say_why() -> None:
    digest = hashlib.sha1(b"x").digest()
    parsed = Checksum.parse_upload_checksum("SHA1 " + base64.b64encode(digest).decode())
    assert parsed == Checksum("sha1", digest)
    with pytest.raises(InvalidInput, match="unsupported checksum algorithm"):
        Checksum.parse_upload_checksum("crc32 AAAAAA==")  # tus: not advertised, so refused
    crc = zlib.crc32(b"x").to_bytes(4, "big")
    tasks = Checksum.parse_upload_checksum(
        "crc32 " + base64.b64encode(crc).decode(), TASK_CHECKSUMS
    )
    assert tasks == Checksum("crc32", crc)
    with pytest.raises(InvalidInput, match="base64"):
        Checksum.parse_content_md5("not base64!")
    with pytest.raises(InvalidInput, match="16 bytes"):
        Checksum.parse_content_md5(base64.b64encode(b"short").decode())


def test_file_hash_normalisation() -> None:
    assert normalize_file_hash("md5", " " + "AB" * 16 + " ") == "ab" * 16
    with pytest.raises(InvalidInput):
        normalize_file_hash("sha256", "ab" * 16)
    with pytest.raises(InvalidInput):
        normalize_file_hash("sha1", "ab" * 20)


async def test_stream_reblocks_and_hands_every_block_to_the_tap() -> None:
    tapped: list[list[bytes]] = []

    async def tap(block: list[bytes]) -> None:
        tapped.append(block)

    body = [b"a" * 700_000, b"b" * 700_000, b"c" * 5]
    stream = DigestingStream(pieces(*body), expected_length=1_400_005, tap=tap)
    assert await drain(stream) == b"".join(body) == b"".join(b"".join(t) for t in tapped)
    assert stream.complete and stream.received == 1_400_005
    assert [len(b"".join(t)) for t in tapped] == [1_400_000, 5]  # 1 MiB blocks at least
    assert all(piece is sent for piece, sent in zip(tapped[0], body, strict=False))  # not copied


async def test_a_trickle_of_tiny_pieces_is_joined_into_one() -> None:
    """A block of more pieces than MAX_PIECES would cost more hashed and written one by one."""
    tapped: list[list[bytes]] = []

    async def tap(block: list[bytes]) -> None:
        tapped.append(block)

    body = [bytes([n % 256]) * 4096 for n in range(300)]  # 1.17 MiB in 300 pieces
    stream = DigestingStream(pieces(*body), expected_length=300 * 4096, tap=tap)
    assert await drain(stream) == b"".join(body)
    assert [len(t) for t in tapped] == [1, 1] and b"".join(t[0] for t in tapped) == b"".join(body)
    few = [b"x" * 300_000] * 4
    stream = DigestingStream(pieces(*few), expected_length=1_200_000, tap=tap)
    await drain(stream)
    assert len(tapped[-1]) == 4 <= hashing.MAX_PIECES


async def test_stream_refuses_wrong_lengths_and_checksums() -> None:
    with pytest.raises(WrongChunk, match="expected 10"):
        await drain(DigestingStream(pieces(b"x" * 9), expected_length=10))
    with pytest.raises(WrongChunk, match="longer"):
        await drain(DigestingStream(pieces(b"x" * 11), expected_length=10))
    bad = Checksum("md5", hashlib.md5(b"y").digest())
    with pytest.raises(ChecksumMismatch):
        await drain(DigestingStream(pieces(b"x"), expected_length=1, checksum=bad))


async def test_cut_body_counts_only_when_partial_is_allowed() -> None:
    with pytest.raises(ClientGone):
        await drain(DigestingStream(pieces(b"abc", cut=True), expected_length=10))
    kept = DigestingStream(pieces(b"abc", cut=True), expected_length=None, keep_partial=True)
    assert await drain(kept) == b"abc" and not kept.complete
    checked = Checksum("md5", hashlib.md5(b"abc").digest())
    strict = DigestingStream(
        pieces(b"abc", cut=True), expected_length=None, keep_partial=True, checksum=checked
    )
    with pytest.raises(ClientGone):  # a checksummed body counts only whole
        await drain(strict)


@pytest.mark.parametrize(
    ("expected", "declared", "cut"),
    [
        (None, None, False),
        (None, None, True),
        (5 * MiB // 2, None, False),
        (None, 5 * MiB // 2, False),
    ],
)
async def test_blocks_tell_when_the_body_has_ended(
    expected: int | None, declared: int | None, cut: bool
) -> None:
    """Known lengths say so on the last block itself; otherwise the source's end does."""
    parts = [b"a" * MiB, b"b" * MiB, b"c" * (MiB // 2)]
    stream = DigestingStream(
        pieces(*parts, cut=cut),
        expected_length=expected,
        declared_length=declared,
        keep_partial=cut,
    )
    blocks = stream.blocks()
    seen = [(len(block), blocks.body_ended) async for block in blocks]
    assert seen == [(MiB, False), (MiB, False), (MiB // 2, True)]


@pytest.mark.parametrize("known", ["expected_length", "declared_length"])
async def test_a_known_length_reached_by_a_full_block_ends_the_body_there(known: str) -> None:
    """The source has not said it ended yet when its last full block is yielded."""
    lengths: dict[str, int | None] = {"expected_length": None, known: 2 * MiB}
    stream = DigestingStream(pieces(b"x" * MiB, b"y" * MiB), **lengths)  # type: ignore[arg-type]
    blocks = stream.blocks()
    assert [blocks.body_ended async for _ in blocks] == [False, True]
