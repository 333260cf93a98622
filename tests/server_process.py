"""A real `upslice serve` process on a loopback port it picks itself, for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from tests import in_process_server


def refused_url() -> str:
    """A loopback URL where nothing listens: port 0 cannot be connected to, so this never races
    with another process the way a "free" port picked in advance can."""
    return "http://127.0.0.1:0"


class ServerProcess:
    """Starts, kills and restarts one server on the same port and data directory.

    The server binds port 0 itself and writes the port it got into a ready file
    (`--ready-file`): no port is picked here and handed over, so nothing else can take it in
    between. A restart asks for the same port again (the server binds with SO_REUSEADDR) and
    retries while the old process's socket still holds it.

    One worker process unless `workers` says otherwise, so that a test sees one process's
    /health counters. The server leads its own process group: `kill()` takes its workers too.
    """

    def __init__(
        self, data_dir: Path, *args: str, env: dict[str, str] | None = None, workers: int = 1
    ) -> None:
        self.data_dir = data_dir
        self.args = ["--workers", str(workers), *args]
        self.env = env or {}
        self.port = 0  # until started: the kernel picks one, which restarts then keep
        self.proc: subprocess.Popen[bytes] | None = None
        self.in_process: in_process_server.ThreadServe | None = None
        self.logged: list[str] = []  # what in-process servers that have stopped logged
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=data_dir.parent)
        os.close(fd)
        self.log_path = Path(name)
        self.ready_path = self.log_path.with_suffix(".ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        """Start the server and return once /health answers; retry while the port is busy.
        `timeout` is a deadline, not a wait: a busy host imports slowly."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if in_process_server.wanted():
            self.in_process = in_process_server.serve(self.data_dir, self.args, self.env, self.port)
            self.port = self.in_process.port
            return self
        deadline = time.monotonic() + timeout
        while True:
            log_size = self.log_path.stat().st_size
            proc = self._spawn(deadline)
            if proc.returncode is None:
                break
            busy = b"address already in use" in self.log_path.read_bytes()[log_size:].lower()
            if not busy or time.monotonic() > deadline:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            time.sleep(0.05)  # poll interval of a retry loop bounded by the deadline
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def _spawn(self, deadline: float) -> subprocess.Popen[bytes]:
        """Run `upslice serve` until it has written its ready file or exited."""
        self.ready_path.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "upslice", "serve", "--port", str(self.port),
            "--ready-file", str(self.ready_path), "--data-dir", str(self.data_dir), *self.args,
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # the child process owns it
        self.proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()
        while not self.ready_path.exists():
            if self.proc.poll() is not None:
                return self.proc
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server wrote no ready file:\n{self.log()}")
            time.sleep(0.02)
        self.port = json.loads(self.ready_path.read_text())["port"]
        return self.proc

    def log(self) -> str:
        if self.in_process is not None or self.logged:
            return "\n".join(
                [*self.logged, *(self.in_process.log.lines if self.in_process else [])]
            )
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the whole process group: no cleanup, no flush, as in a crash."""
        self._stop_in_process(at_once=True)  # the nearest a thread gets to a crash
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self._stop_in_process(at_once=False)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc:  # a worker the supervisor failed to stop must not keep serving
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _stop_in_process(self, *, at_once: bool) -> None:
        """Stop an in-process server, keeping what it logged for `log()`."""
        if self.in_process is not None:
            self.in_process.stop(at_once=at_once)
            self.logged += self.in_process.log.lines
            self.in_process = None

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the worker children, or the server itself."""
        if in_process_server.wanted():
            in_process_server.needs_a_process("signalling a worker")
        assert self.proc is not None
        workers = []
        for child in psutil.Process(self.proc.pid).children():
            try:  # a killed worker lingers as a zombie until the supervisor reaps it
                if "resource_tracker" not in " ".join(child.cmdline()):
                    workers.append(child.pid)
            except psutil.Error:
                continue
        return workers or [self.proc.pid]

    def restart(self) -> None:
        self.kill()
        self.start()
