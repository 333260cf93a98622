"""upslice mounted into a host FastAPI app whose `identify` trusts the `x-user` header (or
else a bearer token in `Authorization`, as the token's user name).

This is README's "Mounting" example, run as a real uvicorn process. The process binds port 0
itself and writes the port it got to a file, so no other process can take it in between.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

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

    @property
    def url(self) -> str:
        return self.base + "/uploads"

    def start(self) -> HostApp:
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

    def log(self) -> str:
        path = self.dir / "host.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, user: str | None) -> httpx.Client:
        """An HTTP client for `user` (None: anonymous, no x-user header)."""
        headers = {} if user is None else {"x-user": user}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
