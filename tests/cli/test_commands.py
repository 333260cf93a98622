"""The client commands as a user runs them against one server: names, outputs, failures."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

import upslice
from tests.cli.terminal import run
from tests.client.helpers import KiB, make_file
from tests.server_process import ServerProcess, refused_url


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = run(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def uploaded(server: ServerProcess, *paths: Path, extra: tuple[str, ...] = ()) -> list[Any]:
    """`upslice upload PATH... --json`: the tasks it printed."""
    out = ok("upload", *map(str, paths), "-s", server.url, "--json", "--chunk-size", "64K", *extra)
    tasks: list[Any] = json.loads(out)["tasks"]
    return tasks


def present(server: ServerProcess, *paths: Path) -> list[Any]:
    """Tasks for `paths` put there with the Python client: setup, not what a test is about."""
    with upslice.Client(server.url) as client:
        return [client.upload(p, chunk_size=64 * KiB).to_json() for p in paths]


def test_ls_in_a_pipe_is_tab_separated_and_never_truncated(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    long_name = "x" * 150 + ".bin"
    (task,) = present(module_server, make_file(tmp_path / long_name, 10 * KiB, seed=40))
    rows = [line.split("\t") for line in ok("ls", "-s", module_server.url).splitlines()]
    mine = [row for row in rows if row[0] == task["id"]]
    assert mine == [[task["id"], long_name, str(10 * KiB), "complete", str(10 * KiB), mine[0][5]]]
    listed = json.loads(ok("ls", "--json", "-s", module_server.url))["tasks"]
    assert task["id"] in {t["id"] for t in listed}


def test_a_reupload_is_the_same_task_and_names_find_it(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "report-41.pdf", 200 * KiB, seed=41)
    (first,) = uploaded(module_server, source)
    (again,) = uploaded(module_server, source)
    assert again["id"] == first["id"] and again["transfer"]["sentBytes"] == 0
    shown = json.loads(ok("status", "report-41.pdf", "--json", "-s", module_server.url))
    assert shown["id"] == first["id"]
    copy = tmp_path / "copy" / "report-41.pdf"
    ok("download", "report-41.pdf", "-o", str(copy), "-q", "-s", module_server.url)
    assert copy.read_bytes() == source.read_bytes()
    gone = run("rm", "report-41.pdf", "-s", module_server.url)
    assert gone.returncode == 0 and first["id"] in gone.stdout
    assert run("status", "report-41.pdf", "-s", module_server.url).returncode == 3


def test_an_ambiguous_name_asks_for_an_id(module_server: ServerProcess, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    one = make_file(tmp_path / "a" / "same-42.txt", KiB, seed=42)
    two = make_file(tmp_path / "b" / "same-42.txt", KiB, seed=43)
    tasks = present(module_server, one, two)
    result = run("status", "same-42.txt", "-s", module_server.url)
    assert result.returncode == 2 and all(t["id"] in result.stderr for t in tasks)


def test_download_into_directories_stdout_and_no_clobber(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    source = make_file(tmp_path / "d44.bin", 300 * KiB, seed=44)
    (task,) = present(module_server, source)
    server = ("-s", module_server.url, "-q")

    ok("download", task["id"], "-o", str(tmp_path / "newdir") + "/", *server)
    assert (tmp_path / "newdir" / "d44.bin").read_bytes() == source.read_bytes()
    deep = tmp_path / "x" / "y" / "z.bin"
    ok("download", task["id"], "-o", str(deep), *server)
    assert deep.read_bytes() == source.read_bytes()

    deep.write_bytes(b"mine")
    kept = run("download", task["id"], "-o", str(deep), "--no-clobber", *server)
    assert kept.returncode == 0 and "exists" in kept.stderr and deep.read_bytes() == b"mine"


def test_download_to_stdout_writes_the_bytes(module_server: ServerProcess, tmp_path: Path) -> None:
    source = make_file(tmp_path / "s45.bin", 200 * KiB, seed=45)
    (task,) = present(module_server, source)
    result = subprocess.run(
        [sys.executable, "-m", "upslice", "download", task["id"], "-o", "-", "-q",
         "-s", module_server.url],
        capture_output=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == source.read_bytes()
    assert not (tmp_path / "-").exists()


def test_several_downloads_at_once(module_server: ServerProcess, tmp_path: Path) -> None:
    files = [make_file(tmp_path / f"many-{i}.bin", 50 * KiB, seed=50 + i) for i in range(3)]
    tasks = present(module_server, *files)
    out = tmp_path / "all"
    ok("download", *(t["id"] for t in tasks), "-o", str(out), "-q", "-s", module_server.url)
    assert sorted(p.name for p in out.iterdir()) == [f.name for f in files]


def test_rm_tries_every_task_and_names_each_failure(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    a, b = (make_file(tmp_path / f"rm-{i}.bin", KiB, seed=60 + i) for i in range(2))
    first, second = present(module_server, a, b)
    result = run("rm", "nope-1", first["id"], "nope-2", second["id"], "-s", module_server.url)
    assert result.returncode == 3
    assert "rm nope-1: no such task" in result.stderr and "rm nope-2: no such task" in result.stderr
    for task in (first, second):
        assert httpx.get(f"{module_server.url}/api/task/{task['id']}").status_code == 404


def test_recursive_upload_keeps_relative_paths_and_filters(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "docs" / "old").mkdir(parents=True)
    make_file(tree / "docs" / "a70.txt", KiB, seed=70)
    make_file(tree / "docs" / "old" / "b70.txt", KiB, seed=71)
    make_file(tree / "c70.log", KiB, seed=72)
    make_file(tree / "d70.txt", KiB, seed=73)
    refused = run("upload", str(tree), "-s", module_server.url)
    assert refused.returncode == 2 and "-r" in refused.stderr
    tasks = uploaded(module_server, tree, extra=("-r", "--include", "*.txt", "--exclude", "old/*"))
    assert sorted(t["metadata"]["relativePath"] for t in tasks) == ["d70.txt", "docs/a70.txt"]
    shown = json.loads(ok("status", "docs/a70.txt", "--json", "-s", module_server.url))
    assert shown["fileName"] == "a70.txt"


def test_files_go_in_parallel(module_server: ServerProcess, tmp_path: Path) -> None:
    files = [make_file(tmp_path / f"par-{i}.bin", 512 * KiB, seed=80 + i) for i in range(2)]
    out = ok("upload", *map(str, files), "-s", module_server.url, "--json",
             "--chunk-size", "16K", "-c", "1", "--transfers", "2")  # fmt: skip
    report = json.loads(out)
    each = [t["transfer"]["seconds"] for t in report["tasks"]]
    assert report["seconds"] < sum(each)  # the two uploads overlapped in time


def test_tus_pieces_are_not_listed(tmp_path: Path) -> None:
    """Partials a final upload joined are hidden from the list even when the server keeps them."""
    server = ServerProcess(tmp_path / "data", "--min-chunk-size", "1024", "--tus-keep-partials")
    server.start()
    try:
        source = make_file(tmp_path / "t90.bin", 500 * KiB, seed=90)
        env = {"UPSLICE_TUS_STATE": str(tmp_path / "tus.json")}
        out = ok("upload", str(source), "--protocol", "tus", "-c", "4", "--chunk-size", "64K",
                 "--json", "-s", server.url, env=env)  # fmt: skip
        final = json.loads(out)["tasks"][0]["id"]
        listed = json.loads(ok("ls", "--json", "-s", server.url))["tasks"]
        assert [t["id"] for t in listed if t["fileName"] == "t90.bin"] == [final]
        every = httpx.get(f"{server.url}/api/tasks", params={"partial": "true"}).json()
        assert len([t for t in every["tasks"] if t["fileName"] == "t90.bin"]) == 5
    finally:
        server.stop()


def test_wrong_server_urls_fail_fast_and_say_where(tmp_path: Path) -> None:
    bare = run("ls", "-s", "127.0.0.1:38555")
    assert bare.returncode == 2 and "'127.0.0.1:38555'" in bare.stderr
    closed = refused_url()
    refused = run("status", "x", "-s", closed)
    assert refused.returncode == 5 and closed in refused.stderr
    unknown = run("ls", "-s", "http://no-such-host.invalid:8080")
    assert unknown.returncode == 5 and "no-such-host.invalid" in unknown.stderr
    for result in (refused, unknown):  # a few quick attempts, not the 8 patient ones
        assert "gave up after 3 attempts" in result.stderr


def test_a_server_that_is_not_upslice_says_so(tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # binds before serving
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        result = run("status", "some-id", "-s", url)
        assert result.returncode == 5
        assert f"not an upslice server at {url}" in result.stderr
        assert "<html" not in result.stderr.lower()
    finally:
        other.shutdown()
        other.server_close()
