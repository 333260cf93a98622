"""Run the server in one process, or in N uvicorn workers that rebuild the settings from env.

uvicorn starts several workers only from an import string (each child imports the app
anew), so the supervisor writes its effective settings into `UPSLICE_*` variables, which the
children inherit and read back through `Settings()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from upslice.logs import configure_logging
from upslice.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("upslice")
WORKER_FACTORY = f"{__name__}:create_worker_app"


def settings_env(settings: Settings) -> dict[str, str | None]:
    """Each setting as its `UPSLICE_*` variable; None means "unset it" (the default applies)."""
    env: dict[str, str | None] = {}
    for name, value in settings.model_dump(mode="json").items():
        key = f"UPSLICE_{name.upper()}"
        if value is None:
            env[key] = None
        elif isinstance(value, str):
            env[key] = value
        else:  # numbers, booleans, lists: pydantic-settings parses JSON from the environment
            env[key] = json.dumps(value)
    return env


def export(env: Mapping[str, str | None], target: MutableMapping[str, str] = os.environ) -> None:
    """Write `env` into `target` (this process's environment, which the workers inherit)."""
    for key, value in env.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def create_worker_app() -> FastAPI:
    """uvicorn's factory in each worker process: the settings come from the environment."""
    from upslice.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    log.info("worker %d ready", os.getpid())
    return create_app(settings)


def announce(sock: socket.socket, settings: Settings) -> str:
    """Log the address the socket is bound to and, if asked, write it to the ready file.

    With `--port 0` the kernel picks the port; a script or test reads it from here instead of
    guessing a free port beforehand (which another process may take in between). The file is
    written under another name and renamed, so a reader never sees half of it.
    """
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    log.info(
        "serving on %s, data in %s, %d worker process%s",
        url,
        settings.data_dir,
        settings.workers,
        "" if settings.workers == 1 else "es",
    )
    if settings.ready_file is not None:
        body = json.dumps({"url": url, "host": host, "port": port, "pid": os.getpid()})
        partial = settings.ready_file.with_name(f".{settings.ready_file.name}.{os.getpid()}")
        partial.write_text(body + "\n")
        partial.replace(settings.ready_file)
    return url


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; with several workers, uvicorn's supervisor stops them too.

    The listening socket is bound here, before any worker starts, and shared by all of them:
    with `--port 0` every worker serves the one port the kernel picked. On SIGTERM,
    connections stop being accepted and requests in flight get up to `shutdown_timeout`
    seconds to finish; then the process exits 0.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from upslice.app import create_app
    from upslice.httpserver import config_for
    from upslice.shutdown import exit_zero_on_sigterm

    exit_zero_on_sigterm()
    with metrics_dir(settings.workers), metrics_listener(settings.metrics_listen):
        if settings.workers == 1:
            config = config_for(create_app(settings), settings)
        else:
            export(settings_env(settings))
            config = config_for(WORKER_FACTORY, settings)
        sock = config.bind_socket()  # SO_REUSEADDR; exits 3, logged, if the port is taken
        sock.listen(config.backlog)  # connections queue from now on, before the workers start
        announce(sock, settings)
        if settings.workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            Multiprocess(config, sockets=[sock]).run()


@contextlib.contextmanager
def metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, a fresh PROMETHEUS_MULTIPROC_DIR they all write their samples to
    (unless the operator set one: then it is theirs to keep, and it is emptied of old files)."""
    from upslice.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    if workers == 1:
        yield
        return
    path = tempfile.mkdtemp(prefix="upslice-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def metrics_listener(listen: str | None) -> Iterator[None]:
    """`/metrics` on its own address, served by this process (the supervisor, with several
    workers: it reads every worker's samples from the shared directory)."""
    if listen is None:
        yield
        return
    from prometheus_client import start_http_server

    from upslice.metrics import registry

    host, _, port = listen.rpartition(":")
    server, thread = start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry())
    bound = server.server_address[1]  # with port 0, the one the kernel picked
    log.info("metrics on http://%s:%d/metrics", host or "127.0.0.1", bound)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
