"""The browser client from another origin, and as the npm package in clients/js (issue 16, item 4).

A static server on `localhost` (another origin than the upslice server on 127.0.0.1) serves a page
and the packed, installed npm package; the upslice server needs no CORS flag for it: while bound to
loopback it allows every loopback origin.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_demo import ROOT, SMALL_CHUNKS, run_scenario, write_random
from tests.server_process import ServerProcess

SITE = Path(__file__).parent / "site"
PACKAGE = ROOT / "clients" / "js"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The test reads results, not access logs."""


def npm(*args: str, cwd: Path) -> str:
    npm_path = shutil.which("npm")
    if npm_path is None:
        pytest.fail("npm is not installed: run scripts/ensure-system-deps")
    done = subprocess.run([npm_path, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"npm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test page plus `npm install` of the package as `npm pack` makes it."""
    root = tmp_path_factory.mktemp("site")
    for name in ("page.html", "consumer.ts"):
        shutil.copy(SITE / name, root / name)
    (root / "package.json").write_text('{"name": "site", "private": true}\n')
    tarball = npm("pack", "--silent", "--pack-destination", str(root), cwd=PACKAGE).split()[-1]
    npm("install", "--no-audit", "--no-fund", "--offline", f"./{tarball}", cwd=root)
    return root


@pytest.fixture(scope="module")
def other_origin(site: Path) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=site))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.browser
def test_another_origin_uploads_and_reports_worker_failures(
    other_origin: str, tmp_path: Path
) -> None:
    files = {name: tmp_path / f"{name}.bin" for name in ("remote", "broken", "packaged")}
    data = {name: write_random(path, 300_000 + k) for k, (name, path) in enumerate(files.items())}
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS).start()  # no CORS flag: loopback
    try:
        result = run_scenario(
            "cross_origin.mjs",
            allow_failed_loads=True,  # the missing worker script
            page=f"{other_origin}/page.html?upslice={proc.url}/",
            upslice=f"{proc.url}/",
            files={name: str(path) for name, path in files.items()},
        )
        assert result["origin"] == other_origin
        with httpx.Client(base_url=proc.url) as client:
            for name in ("remote", "packaged"):
                outcome = result[name]
                assert outcome["state"] == "done", outcome
                assert client.get(outcome["fileUrl"]).content == data[name], name
    finally:
        proc.stop()
    assert result["remote"]["endpoint"] == f"{proc.url}/", "the default server is the script's"
    assert sorted(result["authorization"], key=str) == ["Bearer t0ken", None], "token option"
    broken = result["broken"]
    assert broken["state"] == "error"
    assert broken["error"]["code"] == "worker_error", broken


def test_package_contents_and_types(site: Path) -> None:
    installed = site / "node_modules" / "upslice-client"
    static = ROOT / "src" / "upslice" / "static"
    for name in (
        "upslice.js",
        "upslice-http.js",
        "upslice-transport.js",
        "hash-worker.js",
        "vendor/hash-wasm.esm.min.js",
    ):
        assert (installed / "dist" / name).read_bytes() == (static / name).read_bytes(), name
    assert (installed / "upslice.d.ts").is_file() and (installed / "README.md").is_file()
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    check = subprocess.run(
        [str(tsc), "--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
         "--moduleResolution", "bundler", "--lib", "es2022,dom", "consumer.ts"],
        cwd=site, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
