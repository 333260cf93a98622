"""What a user sees in a real terminal: ids survive the live bars, ls never cuts an id, units
agree, and a server outage shows as retrying rather than a frozen bar."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.cli.terminal import Terminal
from tests.client.helpers import KiB, MiB, bytes_received, make_file
from tests.server_process import ServerProcess


def ids_on(server: ServerProcess) -> dict[str, str]:
    tasks = httpx.get(f"{server.url}/api/tasks").json()["tasks"]
    return {t["fileName"]: t["id"] for t in tasks}


@pytest.mark.parametrize("columns", [80, 100])
def test_ids_survive_the_live_display(
    module_server: ServerProcess, tmp_path: Path, columns: int
) -> None:
    files = [make_file(tmp_path / f"m{i}-{columns}.bin", MiB, seed=columns + i) for i in (1, 2)]
    names = [f.name for f in files]
    args = ("upload", *names, "-s", module_server.url, "--chunk-size", "64K")
    term = Terminal(args, columns, cwd=str(tmp_path))
    assert term.finish() == 0, "\n".join(term.screen())
    screen = term.screen()
    ids = ids_on(module_server)
    for path in files:
        lines = [line for line in screen if ids[path.name] in line]
        assert len(lines) == 1, screen  # the id is on screen, once, on a line of its own
        assert lines[0].split()[0] == ids[path.name] and path.name in lines[0], screen
    summary = [line for line in screen if line.startswith("2 files, sent 2.0 MiB")]
    assert summary and summary[0].endswith("MiB/s"), screen
    assert not any("MB/s" in line or "kB/s" in line for line in screen), screen


def test_ls_keeps_whole_ids_at_80_columns(module_server: ServerProcess, tmp_path: Path) -> None:
    name = "a-rather-long-file-name-that-needs-more-room-than-the-table-has-" * 2 + ".txt"
    with httpx.Client(base_url=module_server.url) as http:
        body = {"hash": "0" * 32, "fileName": name, "fileSize": 5, "chunkSize": 1024}
        task = http.post("/api/task", json=body).json()
    term = Terminal(("ls", "-s", module_server.url), 80)
    assert term.finish() == 0
    screen = term.screen()
    assert any(line.startswith(task["id"] + " ") for line in screen), screen
    assert all(len(line) <= 80 for line in screen)


def test_an_outage_shows_as_retrying_and_the_upload_goes_on(
    server: ServerProcess, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "long.bin", 8 * MiB, seed=5)
    args = ("upload", str(source), "-s", server.url, "--chunk-size", "256K", "-c", "1")
    term = Terminal((*args, "--retries", "30"), 100)
    while True:  # the client is frozen while it is checked: it cannot finish before the outage
        assert term.pump(0.02), "\n".join(term.screen())
        os.kill(term.child.pid, signal.SIGSTOP)
        if bytes_received(server.url) >= MiB:
            break
        os.kill(term.child.pid, signal.SIGCONT)
    server.kill()
    os.kill(term.child.pid, signal.SIGCONT)
    term.wait_for(lambda s: any("retrying (" in x and "server unreachable" in x for x in s))
    server.start()
    assert term.finish() == 0, "\n".join(term.screen())
    task_id = ids_on(server)["long.bin"]
    assert any(line.startswith(task_id) for line in term.screen())
    assert httpx.get(f"{server.url}/api/task/{task_id}").json()["done"]
    assert 256 * KiB < bytes_received(server.url) < 8 * MiB  # the rerun sent only the rest
