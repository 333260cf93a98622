"""A real hook receiver process, and polling helpers for what it got."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

SCRIPT = Path(__file__).with_name("receiver.py")


class Receiver:
    """The receiver in `directory`; `stop()` then `start()` brings it back on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "port").unlink(missing_ok=True)
        log = open(self.directory / "receiver.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(self.directory), str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        port_file = self.directory / "port"
        wait_for(port_file.exists, "the receiver to start", timeout=20)
        self.port = int(port_file.read_text())
        wait_for(self._answers, "the receiver to answer", timeout=20)
        return self

    def _answers(self) -> bool:
        try:
            httpx.get(self.url + "/", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as an endpoint that goes away: no graceful goodbye
            self.proc.wait(10)

    def records(self) -> list[dict[str, Any]]:
        path = self.directory / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def events(self, upload_id: str | None = None) -> list[dict[str, Any]]:
        found = [r["event"] for r in self.records()]
        if upload_id is None:
            return found
        return [e for e in found if (e.get("upload") or {}).get("id") == upload_id]

    def names(self, upload_id: str) -> list[str]:
        return [e["type"] for e in self.events(upload_id)]

    def wait_for_event(self, upload_id: str, name: str, timeout: float = 20) -> dict[str, Any]:
        wait_for(lambda: name in self.names(upload_id), f"{name} for {upload_id}", timeout)
        return next(e for e in self.events(upload_id) if e["type"] == name)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    proc = Receiver(tmp_path_factory.mktemp("receiver")).start()
    yield proc
    proc.stop()
