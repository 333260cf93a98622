"""`upslice serve --port 0 --ready-file`: the server picks its port and says which, so that
tests and scripts never hand a "free" port to a child that another process may take first."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.server_process import ServerProcess


def test_port_zero_is_reported_and_shared_by_every_worker(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    try:
        ready = json.loads(server.ready_path.read_text())
        assert ready["port"] == server.port and ready["port"] > 0
        assert ready["url"] == server.url and ready["pid"] == server.proc.pid  # type: ignore[union-attr]
        assert f"serving on {server.url}" in server.log()
        answered = {
            httpx.get(f"{server.url}/health", headers={"connection": "close"}).status_code
            for _ in range(6)
        }
        assert answered == {200}
        first_port = server.port
        server.restart()  # the same port again, although the killed process just held it
        assert server.port == first_port
        assert httpx.get(f"{server.url}/health").status_code == 200
    finally:
        server.stop()
