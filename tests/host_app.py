"""upslice mounted into a host FastAPI app whose `identify` trusts the `x-user` header (or
else a bearer token in `Authorization`, as the token's user name).

This is README's "Mounting" example, run as a real uvicorn process. The process binds port 0
itself and writes the port it got to a file, so no other process can take it in between.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from tests import in_process_server
from tests.threaded_server import threaded_server

SCRIPT = textwrap.dedent(
    """
    import socket
    import sys
    from pathlib import Path

    import uvicorn
    from fastapi import FastAPI
    from upslice import Settings, create_app

    async def identify(request):
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        return request.headers.get("x-user") or bearer or None

    uploads = create_app(Settings(data_dir=sys.argv[2], min_chunk_size=1024), identify=identify)
    app = FastAPI(lifespan=uploads.router.lifespan_context)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"app": "host"}

    app.mount("/uploads", uploads)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    Path(sys.argv[1] + ".tmp").write_text(str(sock.getsockname()[1]))
    Path(sys.argv[1] + ".tmp").rename(sys.argv[1])
    server.run(sockets=[sock])
    """
)


class HostApp:
    """The host app at `base`; upslice under `base + "/uploads"`."""

    def __init__(self, tmp_path: Path, script: str = SCRIPT) -> None:
        self.script = script
        self.dir = tmp_path
        self.data_dir = tmp_path / "uploads-data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.in_process = contextlib.ExitStack()

    @property
    def url(self) -> str:
        return self.base + "/uploads"

    def start(self) -> HostApp:
        if in_process_server.wanted():
            self.base = self.in_process.enter_context(threaded_server(self.app_in_process()))
            return self
        script, port_file = self.dir / "host.py", self.dir / "host.port"
        script.write_text(self.script)
        log = open(self.dir / "host.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(port_file), str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"host app exited early:\n{self.log()}")
            if port_file.exists():
                self.base = f"http://127.0.0.1:{port_file.read_text()}"
                try:
                    if httpx.get(self.base + "/uploads/health", timeout=1).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"host app did not start:\n{self.log()}")

    def app_in_process(self) -> Any:
        """The script's app, built here (for mutation runs): the script up to its serving part,
        with the data directory where `sys.argv[2]` names it."""
        building = self.script.partition("sock = socket.socket()")[0]
        building = building.replace("sys.argv[2]", repr(str(self.data_dir)))
        namespace: dict[str, Any] = {"__name__": "host_app_in_process"}
        exec(compile(building, "host.py", "exec"), namespace)  # our own script, as the process runs
        return namespace["app"]

    def log(self) -> str:
        path = self.dir / "host.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, user: str | None) -> httpx.Client:
        """An HTTP client for `user` (None: anonymous, no x-user header)."""
        headers = {} if user is None else {"x-user": user}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.in_process.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
