"""The server's own log, read back: JSON lines with the request id (echoed in X-Request-Id)
and the upload id on every line about an upload; the text format says the same."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.tus_cases import OCTETS, TUS
from tests.server_process import ServerProcess
from upslice import logcontext
from upslice.logs import configure_logging


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("logs") / "data", "--log-format", "json")
    yield proc.start()
    proc.stop()


def entries(proc: ServerProcess) -> list[dict[str, Any]]:
    """Every line of the log, which must all be JSON objects."""
    return [json.loads(line) for line in proc.log().splitlines()]


def lines_for(proc: ServerProcess, request_id: str, count: int) -> list[dict[str, Any]]:
    """The request's lines once at least `count` are there (the access line comes last)."""
    deadline = time.monotonic() + 10
    while True:
        found = [e for e in entries(proc) if e["request_id"] == request_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_json_lines_carry_the_request_and_the_upload(json_server: ServerProcess) -> None:
    with httpx.Client(base_url=json_server.url) as client:
        created = client.post(
            "/files/", headers=TUS | {"Upload-Length": "5", "X-Request-Id": "front-end-42"}
        )
        assert created.headers["X-Request-Id"] == "front-end-42"
        upload_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        patched = client.patch(
            created.headers["Location"],
            headers=OCTETS | {"Upload-Offset": "0", "X-Request-Id": "front-end-43"},
            content=b"hello",
        )
        assert patched.status_code == 204
    create_lines = lines_for(json_server, "front-end-42", 2)
    messages = [e["message"] for e in create_lines]
    assert any(m.startswith("created tus upload") for m in messages), messages
    assert any(m.startswith("POST /files/ 201") for m in messages), messages
    assert all(e["upload_id"] == upload_id for e in create_lines), create_lines
    patch_lines = lines_for(json_server, "front-end-43", 2)
    assert any(e["message"].startswith("completed upload") for e in patch_lines), patch_lines
    assert all(e["upload_id"] == upload_id for e in patch_lines)
    for entry in create_lines + patch_lines:
        assert {"time", "level", "logger", "pid", "message"} <= entry.keys()


@pytest.mark.parametrize("given", ["has spaces", "x" * 200, 'quote"d', ""])
def test_an_insane_request_id_is_replaced(json_server: ServerProcess, given: str) -> None:
    response = httpx.get(f"{json_server.url}/api/tasks", headers={"X-Request-Id": given})
    made = response.headers["X-Request-Id"]
    assert made != given and len(made) == 32
    [line] = lines_for(json_server, made, 1)
    assert line["message"].startswith("GET /api/tasks 200 "), line


def test_text_format_names_request_and_upload(capsys: pytest.CaptureFixture[str]) -> None:
    """The same filter feeds the text format: a suffix with both ids, none outside requests."""
    handlers, level = logging.root.handlers[:], logging.root.level  # pytest's own
    configure_logging("info", "text")
    logger = logging.getLogger("upslice.test")
    request = logcontext.request_id.set("t-1")
    try:
        logcontext.request_id.set(None)
        logger.info("outside")
        logcontext.request_id.set("t-1")
        logcontext.about_upload("u123456")
        logger.info("inside")
    finally:
        logcontext.upload_id.set(None)
        logcontext.request_id.reset(request)
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    outside, inside = capsys.readouterr().err.splitlines()[-2:]
    assert outside.endswith("upslice.test: outside")
    assert inside.endswith("upslice.test: inside [request=t-1 upload=u123456]")
