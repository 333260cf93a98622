"""`upslice serve` run on a thread of the test process, for mutation testing.

mutmut counts a test against a mutant only if the mutated function ran in the test's own
process, so the protocol front ends need their end-to-end tests to serve in-process. With
`UPSLICE_TEST_SERVER=thread`, `ServerProcess` parses its arguments with the real CLI and serves
the app it builds on a thread here (one worker; what needs a separate process is skipped).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from typer.testing import CliRunner

from tests.threaded_server import ServerThread


def wanted() -> bool:
    """Whether this run asked for in-process servers."""
    return os.environ.get("UPSLICE_TEST_SERVER") == "thread"


@contextlib.contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """`extra` in os.environ for the duration (the settings read it as a child would)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def settings_for(args: list[str], env: Mapping[str, str]) -> Any:
    """The Settings `upslice serve ARGS` would run with, parsed by the CLI itself."""
    from upslice.cli import build

    captured: list[Any] = []
    with (
        environment(env),
        mock.patch("upslice.cli.server.run", captured.append),
        mock.patch("upslice.cli.server.configure_logging"),
    ):
        result = CliRunner().invoke(build(client=False), ["serve", *args])
    if result.exit_code != 0 or not captured:
        raise RuntimeError(f"upslice serve {' '.join(args)} refused:\n{result.output}")
    return captured[0]


class ServerLog(logging.Handler):
    """The lines a server process would print, kept for `ServerProcess.log()`: what the
    server's own thread logs, formatted as `serve` formats it."""

    LOGGERS = ("upslice", "uvicorn")

    def __init__(self, settings: Any) -> None:
        from upslice.logs import ContextFilter, formatter

        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(formatter(settings.log_format))
        self.addFilter(ContextFilter())
        self.thread_id: int | None = None
        self.levels = {name: logging.getLogger(name).level for name in self.LOGGERS}
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
            logging.getLogger(name).setLevel(settings.log_level.upper())

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def detach(self) -> None:
        for name, level in self.levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)


class ThreadServe:
    """One in-process server; `stop(at_once=True)` cuts the requests in flight."""

    def __init__(self, args: list[str], env: Mapping[str, str], port: int) -> None:
        from upslice.app import create_app
        from upslice.httpserver import config_for

        if "UPSLICE_CRASH_AT" in env:  # it would SIGKILL the test process itself
            needs_a_process("a crash point")
        settings = settings_for(args, env)
        if settings.workers != 1:
            pytest.skip("several workers need their own processes")
        # The server's environment stays while it runs: its stores read some of it (S3
        # credentials) only when they open, on the server's thread.
        self.environment = contextlib.ExitStack()
        self.environment.enter_context(environment(env))
        try:
            config = config_for(create_app(settings), settings)
            self.serving = ServerThread(config, settings.host, port)
        except BaseException:
            self.environment.close()
            raise
        self.port = self.serving.port
        self.log = ServerLog(settings)

    def start(self, timeout: float) -> None:
        self.serving.start(timeout)
        self.log.thread_id = self.serving.thread.ident

    def stop(self, *, at_once: bool = False) -> None:
        self.serving.stop(at_once=at_once)
        self.log.detach()
        self.environment.close()


def serve(data_dir: Path, args: list[str], env: Mapping[str, str], port: int) -> ThreadServe:
    """Start serving `upslice serve --data-dir DATA_DIR ARGS` here; return once it listens."""
    command = ["--host", "127.0.0.1", "--data-dir", str(data_dir), *args]
    server = ThreadServe(command, env, port)
    server.start(60)
    return server


def needs_a_process(what: str) -> None:
    pytest.skip(f"{what} needs a server process (UPSLICE_TEST_SERVER=thread)")
