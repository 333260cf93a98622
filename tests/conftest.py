from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.host_app import HostApp
from tests.s3_server import MotoServer
from tests.server_process import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from throwaway_postgres import PostgresUnavailable, ThrowawayPostgres

SMALL_CHUNKS = ("--min-chunk-size", "1024")


@pytest.fixture(autouse=True)
def upload_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the client and the CLI (child processes inherit it) remember their uploads:
    inside the test's own directory, never the user's ~/.local/state."""
    folder = tmp_path / "upload-state"
    monkeypatch.setenv("UPSLICE_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server process that accepts chunks as small as 1 KiB."""
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ThrowawayPostgres]:
    """One throwaway PostgreSQL for the whole run, started only when a test asks for it.

    It lives in a fresh directory under /tmp (not pytest's 0700 tmp dirs): under root the
    server runs as the `postgres` user, who must be able to reach it.
    """
    base_dir = Path(tempfile.mkdtemp(prefix="upslice-pg-"))
    try:
        cluster = ThrowawayPostgres(base_dir).start()
    except PostgresUnavailable as exc:
        shutil.rmtree(base_dir, ignore_errors=True)
        pytest.fail(f"PostgreSQL is needed by this test and could not start: {exc}")
    yield cluster
    cluster.stop()
    shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_cluster: ThrowawayPostgres) -> str:
    """A fresh, empty database on the session's cluster."""
    return postgres_cluster.create_database(f"test_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostApp]:
    """upslice mounted in a host app whose users are named by the `x-user` header."""
    app = HostApp(tmp_path).start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module, for tests that never disturb each other's uploads."""
    proc = ServerProcess(tmp_path_factory.mktemp("module") / "data", *SMALL_CHUNKS).start()
    yield proc
    proc.stop()


@pytest.fixture
def module_client(module_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=module_server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto S3 server process for the whole run, started only when a test asks for it."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    r"""Test ids in printable ASCII without backslashes, so that every tool can name a test on
    a command line (mutmut hands ids back to pytest): `new\r\nline` -> `new<d><a>line`."""
    if isinstance(val, bytes):
        return f"{len(val)}-bytes"
    if isinstance(val, str) and not (val.isascii() and val.isprintable() and "\\" not in val):
        return "".join(
            c if c.isascii() and c.isprintable() and c != "\\" else f"<{ord(c):x}>" for c in val
        )
    return None
