"""tus creation-with-upload whose body fails its Upload-Checksum: 460, and nothing is stored.

The upload itself is created (its Location comes back, so the client can resend), but not one
byte of the refused body may count: its offset stays 0, a GET has nothing, and the bytes that
do match can then be sent from offset 0.
"""

from __future__ import annotations

import base64
import hashlib

import httpx

from tests.api.tus_cases import OCTETS, TUS
from tests.host_app import HostApp


def checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_refused_creation_body_stores_nothing(module_client: httpx.Client) -> None:
    headers = OCTETS | {"Upload-Length": "10", "Upload-Checksum": checksum(b"other")}
    created = module_client.post("/files/", headers=headers, content=b"01234")
    assert created.status_code == 460, created.text
    url = created.headers["Location"]
    head = module_client.head(url, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
    again = module_client.patch(
        url,
        headers=OCTETS | {"Upload-Offset": "0", "Upload-Checksum": checksum(b"0123456789")},
        content=b"0123456789",
    )
    assert again.status_code == 204 and again.headers["Upload-Offset"] == "10"
    assert module_client.get(url).content == b"0123456789"


def whole_file_checksum(data: bytes) -> str:
    """Upload-Metadata declaring the whole file's MD5 (`checksum` key, tus checksum syntax)."""
    value = "md5 " + base64.b64encode(hashlib.md5(data).digest()).decode()
    return "checksum " + base64.b64encode(value.encode()).decode()


def test_an_empty_file_is_checked_against_its_declared_hash_at_creation(
    module_client: httpx.Client,
) -> None:
    """A zero-length upload completes as it is created: a declared hash it does not match
    refuses it there, and nothing of it is kept."""
    wrong = TUS | {"Upload-Length": "0", "Upload-Metadata": whole_file_checksum(b"not empty")}
    refused = module_client.post("/files/", headers=wrong)
    assert refused.status_code == 460, refused.text
    assert module_client.head(refused.headers["Location"], headers=TUS).status_code == 404
    right = TUS | {"Upload-Length": "0", "Upload-Metadata": whole_file_checksum(b"")}
    created = module_client.post("/files/", headers=right)
    assert created.status_code == 201, created.text
    assert module_client.get(created.headers["Location"]).content == b""


def test_an_owners_empty_file_is_checked_and_kept_as_theirs(host: HostApp) -> None:
    with host.client("gina") as gina, host.client("hal") as hal:
        wrong = TUS | {"Upload-Length": "0", "Upload-Metadata": whole_file_checksum(b"x")}
        refused = gina.post("/files/", headers=wrong)
        assert refused.status_code == 460, refused.text
        right = TUS | {"Upload-Length": "0", "Upload-Metadata": whole_file_checksum(b"")}
        url = gina.post("/files/", headers=right).headers["Location"]
        assert gina.head(url, headers=TUS).headers["Upload-Offset"] == "0"
        assert gina.get(url).status_code == 200
        assert hal.get(url).status_code == 404
