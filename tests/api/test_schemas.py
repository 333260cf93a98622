"""The tasks API's request body is strictly typed, and every refusal names where it broke."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.tus_cases import TUS
from tests.taskflow import md5_hex

VALID: dict[str, Any] = {
    "hash": md5_hex(b"strict"),
    "fileName": "s.txt",
    "fileType": "text/plain",
    "fileSize": 6,
    "hashAlgorithm": "md5",
    "chunkSize": 1024,
    "metadata": {"k": "v"},
}
WRONG_TYPES = [
    ("fileSize", "1000"),
    ("fileSize", True),
    ("fileSize", 6.0),
    ("fileSize", None),
    ("chunkSize", "1024"),
    ("chunkSize", False),
    ("hash", 12345),
    ("fileName", 7),
    ("fileName", ["a"]),
    ("fileType", 1),
    ("hashAlgorithm", 5),
    ("metadata", "k=v"),
    ("metadata", ["k"]),
]


@pytest.fixture
def client(module_client: httpx.Client) -> httpx.Client:
    return module_client


def test_the_valid_body_is_accepted(client: httpx.Client) -> None:
    assert client.post("/api/task", json=VALID).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"), WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in WRONG_TYPES]
)
def test_a_value_of_the_wrong_type_is_refused(client: httpx.Client, field: str, value: Any) -> None:
    reply = client.post("/api/task", json=VALID | {field: value})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_input"
    assert [p["field"] for p in error["problems"]] == [field]
    assert error["message"].startswith(f"{field}: ")


def test_malformed_json_names_line_and_column(client: httpx.Client) -> None:
    reply = client.post(
        "/api/task",
        content=b'{"hash":\n  oops}',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["problems"] == [
        {"field": "body", "problem": "invalid JSON at line 2 column 3 (Expecting value)"}
    ]
    assert error["message"] == "body: invalid JSON at line 2 column 3 (Expecting value)"


def test_a_missing_tus_version_is_called_missing(client: httpx.Client) -> None:
    reply = client.post("/files/", headers={"Upload-Length": "1"})
    assert reply.status_code == 412
    message = reply.json()["error"]["message"]
    assert "missing" in message and "None" not in message
    wrong = client.post("/files/", headers=TUS | {"Tus-Resumable": "0.2.2", "Upload-Length": "1"})
    assert (
        wrong.status_code == 412 and "'0.2.2' is not supported" in wrong.json()["error"]["message"]
    )
