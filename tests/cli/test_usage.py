"""Help, versions, settings errors, completion, the config file and tokens, as a user meets them.

Commands that never reach a server run in-process (Typer's CliRunner: the same app, the same
parsing, the same exit codes), which saves a Python start-up per call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from tests.cli.terminal import run
from tests.client.helpers import KiB, make_file
from tests.host_app import HostApp
from tests.server_process import ServerProcess
from upslice.cli import app

COMMANDS = ("serve", "gc", "fsck", "upload", "download", "status", "ls", "rm", "completion")


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, prog_name="upslice")


def test_help_fits_80_columns_and_shows_defaults() -> None:
    for args in [(), *((c,) for c in COMMANDS)]:
        shown = cli(*args, "-h", env={"COLUMNS": "80"})
        assert shown.exit_code == 0, (args, shown.output)
        assert all(len(line) <= 80 for line in shown.stdout.splitlines()), args
        assert not re.search(r"<list\[|\{files\}|\{task_id\}", shown.stdout), shown.stdout
    serve = flat(cli("serve", "--help", env={"COLUMNS": "80"}).stdout)
    assert "--default-chunk-size SIZE" in serve
    assert "[default: 5MiB; env UPSLICE_DEFAULT_CHUNK_SIZE]" in serve
    assert "--cors-origin ORIGIN" in serve
    upload = flat(cli("upload", "-h").stdout)
    assert "Exit codes: 0 done" in upload and "130 interrupted" in upload
    assert run("--version").stdout.strip() == "upslice 0.1.0"  # the installed entry point


def test_bad_settings_are_one_line_naming_the_flag(tmp_path: Path) -> None:
    cases = [
        (("--log-level", "verbose"), {}, "--log-level / UPSLICE_LOG_LEVEL"),
        (("--chaos", "bogus"), {}, "--chaos / UPSLICE_CHAOS"),
        ((), {"UPSLICE_PORT": "abc"}, "--port / UPSLICE_PORT"),
        (("--max-chunk-size", "5Q"), {}, "--max-chunk-size / UPSLICE_MAX_CHUNK_SIZE"),
    ]
    for args, env, named in cases:
        result = cli("serve", "--data-dir", str(tmp_path / "d"), *args, env=env)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert result.stderr.startswith(f"upslice: {named}: ") and result.stderr.count("\n") == 1
        assert not (tmp_path / "d").exists()  # nothing started


def test_sizes_read_the_same_everywhere(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--default-chunk-size", "512KiB",
                           env={"UPSLICE_MIN_CHUNK_SIZE": "64K"}).start()  # fmt: skip
    try:
        body = {"hash": "0" * 32, "fileName": "s.bin", "fileSize": 4 * 1024 * KiB}
        task = httpx.post(f"{server.url}/api/task", json=body).json()
        assert task["chunkSize"] == 512 * KiB
        body.update(chunkSize=1, hash="1" * 32)
        assert httpx.post(f"{server.url}/api/task", json=body).json()["chunkSize"] == 64 * KiB
    finally:
        server.stop()


def test_gc_needs_an_existing_data_dir(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "upslice", "gc"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and str(tmp_path / "upslice-data") in result.stderr
    assert not (tmp_path / "upslice-data").exists()


def test_completion_scripts_complete_commands() -> None:
    for shell in ("bash", "zsh", "fish"):
        script = cli("completion", shell)
        assert script.exit_code == 0 and "_UPSLICE_COMPLETE" in script.stdout
    env = {"_UPSLICE_COMPLETE": "complete_bash", "COMP_WORDS": "upslice up", "COMP_CWORD": "1"}
    assert cli(env=env).stdout.split() == ["upload"]
    env.update(COMP_WORDS="upslice download --no-c", COMP_CWORD="2")
    assert cli(env=env).stdout.split() == ["--no-clobber"]


def test_config_file_and_token_need_no_flags(host: HostApp, tmp_path: Path) -> None:
    source = make_file(tmp_path / "conf.bin", 20 * KiB, seed=7)
    config = tmp_path / "config.toml"
    config.write_text(f'server = "{host.url}"\ntoken = "alice"\n[upload]\nchunk-size = "4K"\n')
    env = {"UPSLICE_CONFIG": str(config)}
    up = run("upload", str(source), "--json", env=env)
    assert up.returncode == 0, up.stderr
    task = json.loads(up.stdout)["tasks"][0]
    assert task["chunkSize"] == 4 * KiB
    listed = run("ls", "--json", env=env)
    assert [t["id"] for t in json.loads(listed.stdout)["tasks"]] == [task["id"]]
    as_bob = run("ls", "--json", env={**env, "UPSLICE_TOKEN": "bob"})
    assert json.loads(as_bob.stdout)["tasks"] == []
    as_carol = run("status", task["id"], "--token", "carol", env=env)
    assert as_carol.returncode == 3
    config.write_text("server = [\n")
    broken = run("ls", env=env)
    assert broken.returncode == 2 and str(config) in broken.stderr
