"""Command hooks (--hooks-dir): an executable per event, the event's JSON on stdin."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hooks.conftest import wait_for
from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes

PRE_CREATE = """
    import json, sys, time
    event = json.load(sys.stdin)
    name = event["upload"]["fileName"]
    if "crash" in name:
        sys.exit(3)
    if "slow" in name:
        time.sleep(5)
    if "refuse" in name:
        print(json.dumps({"reject": True, "status": 422, "message": "no " + name}))
"""
POST_FINISH = """
    import json, os, sys
    event = json.load(sys.stdin)
    with open("finished.jsonl", "a") as out:
        out.write(json.dumps({"env": os.environ["UPSLICE_EVENT"], "event": event}) + "\\n")
"""


def script(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture(scope="module")
def hooks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hooks")
    script(directory, "pre-create", PRE_CREATE)
    script(directory, "post-finish", POST_FINISH)
    (directory / "pre-terminate").write_text("not executable: never run")
    return directory


@pytest.fixture(scope="module")
def client(hooks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("command") / "data",
        "--min-chunk-size", "1024",
        "--hooks-dir", os.path.relpath(hooks_dir),  # relative: to the server's directory
        "--hooks-timeout", "1",
    ).start()  # fmt: skip
    with httpx.Client(base_url=proc.url, timeout=30) as http:
        yield http
    proc.stop()


def test_a_command_decides_and_hears(client: httpx.Client, hooks_dir: Path) -> None:
    refused = create(client, random_bytes(1500), 1024, name="refuse.bin")
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "refused_by_hook",
        "message": "no refuse.bin",
        "hook": "pre-create",
    }
    data = random_bytes(1500)
    task = create(client, data, 1024, name="fine.bin").json()
    for index in range(2):
        put_chunk(client, task, index, data[index * 1024 : (index + 1) * 1024])
    finished = hooks_dir / "finished.jsonl"
    wait_for(finished.exists, "the post-finish command")
    (line,) = [json.loads(x) for x in finished.read_text().splitlines()]
    assert line["env"] == "post-finish"
    assert line["event"]["upload"]["id"] == task["id"]
    assert line["event"]["upload"]["state"] == "complete"
    assert client.delete(f"/api/task/{task['id']}").status_code == 204  # no pre-terminate


def test_a_crashing_or_slow_command_refuses(client: httpx.Client) -> None:
    crashed = create(client, random_bytes(1500), 1024, name="crash.bin")
    assert crashed.status_code == 502
    assert "exited with status 3" in crashed.json()["error"]["message"]
    slow = create(client, random_bytes(1500), 1024, name="slow.bin")
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "hook_timeout"
