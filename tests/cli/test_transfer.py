"""The transfer commands as a user runs them: separate processes, signals, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.helpers import KiB, MiB, bytes_received, make_file
from tests.host_app import HostApp
from tests.server_process import ServerProcess, refused_url
from tests.waiting import in_flight, wait_for

SIZE = 40 * MiB


def upslice(*args: str, server: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UPSLICE_SERVER": server} if server else None
    return subprocess.run(
        [sys.executable, "-m", "upslice", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_round_trip_and_task_commands(server: ServerProcess, tmp_path: Path) -> None:
    a = make_file(tmp_path / "a.txt", 300 * KiB, seed=1)
    b = make_file(tmp_path / "b.bin", 100 * KiB, seed=2)
    up = as_json(upslice("upload", str(a), str(b), "--chunk-size", "64KiB", "--json", "-q",
                         server=server.url))  # fmt: skip
    assert [t["fileName"] for t in up["tasks"]] == ["a.txt", "b.bin"]
    assert all(t["done"] for t in up["tasks"]) and up["sentBytes"] == 400 * KiB
    first = up["tasks"][0]["id"]

    out = tmp_path / "out"
    out.mkdir()
    got = as_json(upslice("download", first, "-o", str(out), "--json", "-q", server=server.url))
    assert Path(got["path"]) == out / "a.txt" and (out / "a.txt").read_bytes() == a.read_bytes()

    assert as_json(upslice("status", first, "--json", server=server.url))["state"] == "complete"
    listed = as_json(upslice("ls", "--json", "--server", server.url))["tasks"]
    assert {t["id"] for t in listed} == {t["id"] for t in up["tasks"]}
    human = upslice("status", first, "--server", server.url)
    assert human.returncode == 0 and "complete" in human.stdout

    assert upslice("rm", first, "--server", server.url).returncode == 0
    assert upslice("status", first, "--server", server.url).returncode == 3


def test_exit_codes(server: ServerProcess, tmp_path: Path) -> None:
    assert upslice("status", "nope", "--server", server.url).returncode == 3
    assert upslice("download", "nope", "--server", server.url).returncode == 3
    assert upslice("upload", str(tmp_path), "--protocol", "ftp").returncode == 2
    dead = refused_url()
    gone = upslice("ls", "--server", dead, "--retries", "2")
    assert gone.returncode == 5 and "gave up" in gone.stderr
    help_text = upslice("upload", "--help").stdout
    assert "Exit codes" in help_text and "130 interrupted" in help_text
    assert "--hash-first" in help_text and "UPSLICE_STATE_DIR" in help_text


def task_of(server: ServerProcess) -> dict[str, Any]:
    tasks = httpx.get(f"{server.url}/api/tasks").json()["tasks"]
    assert len(tasks) == 1
    task: dict[str, Any] = httpx.get(f"{server.url}/api/task/{tasks[0]['id']}").json()
    return task


def default_sigint() -> None:
    """A shell without job control starts background jobs with SIGINT ignored, and a child
    inherits that: give the CLI the Ctrl-C a user's terminal would, however pytest started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_upload_resumes(
    server: ServerProcess, tmp_path: Path, sig: signal.Signals, upload_state_dir: Path
) -> None:
    """The default flow hashes beside the upload: the rerun finds its task in the state file."""
    source = make_file(tmp_path / "big.bin", SIZE, seed=3)
    command = [sys.executable, "-m", "upslice", "upload", str(source), "--server", server.url,
               "--chunk-size", "1MiB", "--concurrency", "2", "--json", "-q"]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while bytes_received(server.url) < SIZE // 4:  # a quarter is in: pull the plug
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
    if sig == signal.SIGINT:
        assert "interrupted" in err
    wait_for(lambda: in_flight(server.url) == 1, "the server to finish the cut chunks")

    held = task_of(server)
    assert not held["done"] and 0 < held["uploadedBytes"] < SIZE
    remembered = json.loads((upload_state_dir / "uploads.json").read_text())
    assert [entry["taskId"] for entry in remembered.values()] == [held["id"]]
    before = bytes_received(server.url)
    rerun = as_json(upslice(*command[3:]))
    sent = rerun["tasks"][0]["transfer"]["sentBytes"]
    assert rerun["tasks"][0]["id"] == held["id"] and rerun["tasks"][0]["done"]
    assert sent == SIZE - held["uploadedBytes"]
    assert bytes_received(server.url) - before == sent  # only the missing chunks went out

    out = tmp_path / "copy.bin"
    assert upslice("download", held["id"], "-o", str(out), "-q", server=server.url).returncode == 0
    assert out.read_bytes() == source.read_bytes()


def test_tus_protocol_from_the_command_line(server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "t.bin", 500 * KiB, seed=4)
    env = {**os.environ, "UPSLICE_TUS_STATE": str(tmp_path / "tus.json")}
    result = subprocess.run(
        [sys.executable, "-m", "upslice", "upload", str(source), "--protocol", "tus",
         "--chunk-size", "64KiB", "--json", "-q", "--server", server.url],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    task = as_json(result)["tasks"][0]
    assert task["done"] and task["protocol"] == "tus"
    assert (tmp_path / "tus.json").exists()
    out = tmp_path / "tus-copy.bin"  # what the server stored is what was read from disk
    assert upslice("download", task["id"], "-o", str(out), "-q", server=server.url).returncode == 0
    assert out.read_bytes() == source.read_bytes()


def test_upload_proves_possession_of_another_users_file(host: HostApp, tmp_path: Path) -> None:
    data = make_file(tmp_path / "shared.bin", 600 * KiB, seed=9)
    common = ("--server", host.url, "--chunk-size", "64KiB", "-q")
    first = as_json(upslice("upload", str(data), *common, "--header", "x-user: alice", "--json"))
    assert first["sentBytes"] == 600 * KiB
    received = bytes_received(host.url)
    result = upslice("upload", str(data), *common, "--header", "x-user: bob", "--hash-first")
    assert result.returncode == 0, result.stderr
    assert "instant: the server already had it (proved possession)" in result.stdout
    assert bytes_received(host.url) == received
    task_id = result.stdout.split()[0]
    assert task_id != first["tasks"][0]["id"]
    out = tmp_path / "out"
    out.mkdir()
    got = upslice("download", task_id, "-o", str(out), "-q", "--server", host.url,
                  "--header", "x-user: bob")  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert (out / "shared.bin").read_bytes() == data.read_bytes()
