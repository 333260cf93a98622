"""A real uvicorn server on a background thread of the test process.

For tests that need several differently configured servers and only look at HTTP: starting
each in this already-warm interpreter takes milliseconds instead of a process's seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


class ServerThread:
    """uvicorn serving `config` on its own socket (bound to `port`, 0 for a free one)."""

    def __init__(self, config: uvicorn.Config, host: str, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)

    def start(self, timeout: float = 20) -> None:
        """Return once the server listens; `timeout` is a deadline, not a wait."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the threaded server did not start")
            time.sleep(0.01)  # poll interval of a wait bounded by the deadline

    def stop(self, *, at_once: bool = False) -> None:
        """Stop serving; `at_once` cuts requests in flight instead of letting them finish."""
        self.server.should_exit = True
        self.server.force_exit = at_once
        self.thread.join(30)
        self.sock.close()


@contextmanager
def threaded_server(app: ASGIApp, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port of `host`; yields a loopback URL that reaches it."""
    serving = ServerThread(uvicorn.Config(app, log_level="warning", lifespan="on"), host)
    serving.start()
    try:
        yield f"http://127.0.0.1:{serving.port}"
    finally:
        serving.stop()
