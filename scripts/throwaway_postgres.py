#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in one directory, loopback only.

Importable (`ThrowawayPostgres(base_dir).start()`) and a CLI:

    python scripts/throwaway_postgres.py start DIR   # prints the dsn
    python scripts/throwaway_postgres.py stop DIR

Trust authentication on 127.0.0.1 and a unix socket inside DIR: nothing outside this machine
can reach it. fsync is off: a crash loses the cluster, which is fine for a test run. initdb and
the server refuse to run as root, so under root they run as the `postgres` user (Debian's
package creates it), which must be able to reach DIR: pick one under /tmp, not under a 0700 dir.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "upslice"  # the cluster's superuser, and the name of its default database
SERVER_USER = "postgres"  # who runs initdb and the server when we are root
START_ATTEMPTS = 5  # a free port can be taken between choosing it and binding it
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or its server could not start; the message says why."""


def find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's versioned directory."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent  # Debian's /usr/bin links go via pg_wrapper
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if versions:
        return Path(versions[-1]).parent
    raise PostgresUnavailable(
        "initdb not found on PATH or under /usr/lib/postgresql/*/bin: "
        "install PostgreSQL (scripts/ensure-system-deps does it on Debian)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """One cluster in `base_dir` (data/, sock/, server.log), listening on 127.0.0.1:`port`."""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir.resolve()
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.bin_dir = find_bin_dir()
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_path = self.base_dir / "server.log"

    @property
    def dsn(self) -> str:
        return self.dsn_for(USER)

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> ThrowawayPostgres:
        """initdb (once), start the server and wait until it accepts connections."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._hand_over(self.base_dir)
        self._hand_over(self.socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run_as_server(
                "initdb", "-D", str(self.data_dir), "-U", USER, "--auth=trust",
                "--encoding=UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
        for attempt in range(START_ATTEMPTS):
            if self._try_start():
                break
            if self._fixed_port or attempt == START_ATTEMPTS - 1:
                raise PostgresUnavailable(f"PostgreSQL did not start:\n{self._log_tail()}")
            self.port = free_port()
        try:
            self.create_database(USER)
        except PostgresUnavailable:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        """Create database `name` (no error if it exists) and return its dsn."""
        result = subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", USER, name],
            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise PostgresUnavailable(f"createdb {name} failed: {result.stderr.strip()}")
        return self.dsn_for(name)

    def stop(self) -> None:
        """Stop at once (no checkpoint: the cluster is thrown away); a no-op when not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run_as_server(
            "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", check=False
        )

    def _try_start(self) -> bool:
        options = [f"-p {self.port}", f"-c unix_socket_directories={self.socket_dir}"]
        options += [f"-c {key}={value}" for key, value in SETTINGS.items()]
        result = self._run_as_server(
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_path),
            "-w", "-t", "60", "-o", " ".join(options), check=False,
        )  # fmt: skip
        return result.returncode == 0

    def _run_as_server(
        self, tool: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.base_dir, capture_output=True, text=True, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed: {result.stdout}{result.stderr}")
        return result

    def _hand_over(self, path: Path) -> None:
        """Under root, give `path` to the server's user, who must also be able to reach it."""
        if os.geteuid() != 0:
            return
        try:
            account = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root needs a {SERVER_USER!r} user to run the server "
                "(Debian's postgresql package creates it)"
            ) from None
        os.chown(path, account.pw_uid, account.pw_gid)
        probe = ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(path)]
        if subprocess.run(probe, check=False, stdin=subprocess.DEVNULL).returncode != 0:
            raise PostgresUnavailable(
                f"user {SERVER_USER!r} cannot reach {path}: choose a directory whose parents "
                "it may enter (e.g. one made by tempfile.mkdtemp() under /tmp)"
            )

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    cluster = ThrowawayPostgres(args.dir, args.port)
    try:
        if args.action == "start":
            print(cluster.start().dsn)
        else:
            cluster.stop()
    except PostgresUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
