"""RFC 9530 digest fields as the IETF front end reads them (`sf_digests`): strict parsing, so
that a malformed digest is a clear 400 instead of a check against the wrong bytes."""

from __future__ import annotations

import pytest

from upslice.api.ietf import sf_digests
from upslice.errors import InvalidInput


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sha-256=:QUJD:", {"sha-256": b"ABC"}),
        ("sha-256=:QUJD:, MD5=:QUJDRA==:", {"sha-256": b"ABC", "md5": b"ABCD"}),
        ("sha-256=:QUJD:;param=1", {"sha-256": b"ABC"}),
        ("sha-256=::", {"sha-256": b""}),
    ],
    ids=["one", "two-and-case", "a-parameter", "empty-bytes"],
)
def test_a_digest_dictionary_is_read(header: str, expected: dict[str, bytes]) -> None:
    assert sf_digests(header, "Content-Digest") == expected


@pytest.mark.parametrize(
    "header",
    ["sha-256", "sha-256=QUJD", "sha-256=xQUJDRA==:", "sha-256=:QUJDRA==x", "sha-256=:QU$JDRA==:"],
    ids=["no-value", "no-colons", "no-opening-colon", "no-closing-colon", "not-base64"],
)
def test_a_malformed_digest_is_refused_by_name(header: str) -> None:
    with pytest.raises(InvalidInput, match=r"^Content-Digest"):
        sf_digests(header, "Content-Digest")
