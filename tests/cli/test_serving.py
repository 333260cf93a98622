"""`upslice serve --workers N`: settings reach every worker; no worker outlives its server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from tests.server_process import ServerProcess
from tests.taskflow import create, put_chunk, random_bytes
from upslice.cli.serving import export, settings_env
from upslice.settings import Settings


def wait_for(
    condition: Callable[[], bool],
    what: str,
    seconds: float = 60,
    server: ServerProcess | None = None,
) -> None:
    """Poll until `condition`; a spawned worker imports the whole app, which takes seconds on a
    loaded machine. A timeout shows the server's log, which says what the supervisor did."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            log = server.log()[-3000:] if server is not None else ""
            raise AssertionError(f"timed out waiting until {what}\n{log}")
        time.sleep(0.05)


def all_gone(pids: list[int]) -> bool:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return not alive


def refuses(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_settings_travel_through_the_environment(tmp_path: Path) -> None:
    effective = Settings(
        _env_file=None,
        data_dir=tmp_path / "shared",
        database_url=f"sqlite:///{tmp_path}/meta.db",
        max_chunk_size=12345678,
        expiry_seconds=90.5,
        fsync=True,
        demo=False,
        cors_origins=["https://a.example", "https://b.example"],
        chaos=None,
        workers=3,
    )
    child = {k: v for k, v in os.environ.items() if not k.startswith("UPSLICE_")}
    child["UPSLICE_CHAOS"] = "fail=1"  # set outside, unset in the effective settings
    export(settings_env(effective), child)
    assert "UPSLICE_CHAOS" not in child
    read_back = subprocess.run(
        [sys.executable, "-c", "from upslice.settings import Settings as S; "
         "print(S().model_dump_json())"],
        env=child, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Settings.model_validate_json(read_back.stdout) == effective


def test_a_killed_worker_is_replaced_and_uploads_go_on(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--min-chunk-size", "1024", workers=2).start()
    try:
        wait_for(lambda: len(server.worker_pids()) == 2, "two workers run", server=server)
        assert "2 worker processes" in server.log()
        first, second = server.worker_pids()
        psutil.Process(first).kill()
        wait_for(
            lambda: first not in server.worker_pids(), "the killed worker is reaped", server=server
        )
        wait_for(
            lambda: len(server.worker_pids()) == 2,
            "the supervisor starts a new worker",
            server=server,
        )
        assert second in server.worker_pids()
        data = random_bytes(8192)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            task = create(http, data, 1024).json()
            replies = [put_chunk(http, task, i, data[i * 1024 : (i + 1) * 1024]) for i in range(8)]
            assert [r.status_code for r in replies] == [200] * 8
            assert replies[-1].json()["done"]
            assert http.get(f"/api/task/{task['id']}/file").content == data
    finally:
        server.stop()


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    wait_for(lambda: len(server.worker_pids()) == 2, "two workers run")
    workers = server.worker_pids()
    assert server.proc is not None
    server.proc.terminate()  # SIGTERM to the supervisor alone, as a service manager sends it
    assert server.proc.wait(20) == 0
    wait_for(lambda: all_gone(workers), "every worker has exited")
    assert refuses(server.url)


def test_kill_leaves_no_worker_serving(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", workers=2).start()
    wait_for(lambda: len(server.worker_pids()) == 2, "two workers run")
    workers = server.worker_pids()
    server.kill()
    wait_for(lambda: all_gone(workers), "every worker is dead")
    assert refuses(server.url)


def test_help_names_the_workers_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "upslice", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        check=True,
    )
    assert "--workers" in result.stdout and "UPSLICE_WORKERS" in result.stdout
