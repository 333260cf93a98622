"""What a user of `import upslice` relies on: the names, the types, the docs, the errors."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

import upslice
from tests.host_app import HostApp
from tests.server_process import ServerProcess, refused_url

PUBLIC = {
    "AsyncClient", "Client", "Conflict", "IntegrityError", "InvalidServerURL", "NotFound",
    "NotUpsliceServer", "Progress", "RetriesExhausted", "RetryPolicy", "ServerError",
    "ServerIntegrityError", "Settings", "Task", "TransportError", "Unreachable", "UpsliceError",
    "__version__", "create_app",
}  # fmt: skip


def test_every_public_name_is_exported_and_listed() -> None:
    assert set(upslice.__all__) == PUBLIC
    for name in upslice.__all__:
        assert getattr(upslice, name) is not None
    assert issubclass(upslice.NotFound, upslice.ServerError)
    assert issubclass(upslice.Unreachable, upslice.TransportError)
    assert issubclass(upslice.Unreachable, upslice.RetriesExhausted)


def test_the_package_is_typed() -> None:
    assert resources.files("upslice").joinpath("py.typed").is_file()


def test_sync_methods_document_themselves() -> None:
    for name, method in inspect.getmembers(upslice.Client, inspect.isfunction):
        if not name.startswith("_"):
            doc = inspect.getdoc(method) or ""
            assert len(doc) > 30 and not doc.startswith("See "), name


def test_a_url_without_scheme_fails_at_construction() -> None:
    with pytest.raises(upslice.InvalidServerURL, match=r"127\.0\.0\.1:38555"):
        upslice.Client("127.0.0.1:38555")


def test_a_server_that_is_down_is_a_transport_error(tmp_path: Path) -> None:
    with (
        upslice.Client(refused_url()) as client,
        pytest.raises(upslice.TransportError) as failed,
    ):
        client.list()
    assert isinstance(failed.value, upslice.Unreachable) and failed.value.attempts == 3


def test_a_client_never_closed_lets_the_interpreter_exit(
    module_server: ServerProcess, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import upslice

            c = upslice.Client({module_server.url!r})
            a = upslice.AsyncClient({module_server.url!r})
            print(len(c.list()), c.health()["status"])
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "ok"


def test_a_token_is_sent_as_a_bearer_token(host: HostApp, tmp_path: Path) -> None:
    from tests.client.helpers import KiB, make_file

    source = make_file(tmp_path / "tok.bin", 10 * KiB, seed=5)
    with upslice.Client(host.url, token="alice") as alice:
        task = alice.upload(source)
    with upslice.Client(host.url, token="bob") as bob, pytest.raises(upslice.NotFound):
        bob.status(task.id)
    with upslice.Client(host.url, headers={"Authorization": "Bearer alice"}) as again:
        assert again.status(task.id).done
