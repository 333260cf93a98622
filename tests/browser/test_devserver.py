"""A front-end developer's page on their own dev server (a second loopback origin) talking to
an upslice server started with no CORS flags, in the suite's real Chromium.

The dev server is a small static server on `http://localhost:<port>`: the pages in
`devserver/` and `node_modules/` (spark-md5, the Uppy bundle). Each flow ends byte-identical.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.test_demo import ROOT, run_scenario, write_random
from tests.server_process import ServerProcess

PAGES = Path(__file__).parent / "devserver"
KiB = 1024


class DevServerHandler(SimpleHTTPRequestHandler):
    """The pages from `devserver/`, and `/node_modules/...` from the repository's root."""

    def translate_path(self, path: str) -> str:
        if path.startswith("/node_modules/"):
            return str(ROOT / path.lstrip("/").split("?")[0])
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def dev_origin() -> Iterator[str]:
    handler = functools.partial(DevServerHandler, directory=str(PAGES))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def upslice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """No CORS flags at all: the loopback default has to be enough."""
    proc = ServerProcess(tmp_path_factory.mktemp("devserver") / "data", "--min-chunk-size", "1024")
    yield proc.start()
    proc.stop()


def page_url(dev_origin: str, page: str, server: ServerProcess) -> str:
    return f"{dev_origin}/{page}?server={quote(server.url, safe='')}"


@pytest.mark.browser
def test_spark_md5_flow_with_raw_and_form_data_chunks(
    dev_origin: str, upslice: ServerProcess, tmp_path: Path
) -> None:
    raw = write_random(tmp_path / "raw.bin", 200 * KiB + 17)
    form = write_random(tmp_path / "form.bin", 150 * KiB + 3)
    result = run_scenario(
        "devserver_spark.mjs",
        page=page_url(dev_origin, "spark.html", upslice),
        raw=str(tmp_path / "raw.bin"),
        form=str(tmp_path / "form.bin"),
    )
    assert result["origin"].startswith("http://localhost:")
    assert result["failed"] == []
    for mode, data in (("raw", raw), ("form", form)):
        outcome = result["results"][mode]
        task = outcome["task"]
        assert outcome["hash"] == hashlib.md5(data).hexdigest()
        assert task["done"] and task["chunkCount"] >= 3, task
        assert outcome["downloadedMd5"] == outcome["hash"], "the page read back other bytes"
        assert httpx.get(task["fileUrl"]).content == data, f"{mode}: the server's copy differs"


@pytest.mark.browser
def test_uppy_golden_retriever_reload_resumes_from_the_server_offset(
    dev_origin: str, upslice: ServerProcess, tmp_path: Path
) -> None:
    data = write_random(tmp_path / "holiday.bin", 2 * 1024 * KiB + 99)
    result = run_scenario(
        "devserver_uppy.mjs",
        page=page_url(dev_origin, "uppy.html", upslice),
        file=str(tmp_path / "holiday.bin"),
        throttle=400 * KiB,
    )
    assert result["restored"]["controlled"], "the golden-retriever service worker controls the page"
    assert result["restored"]["file"]["isRestored"]
    before, after = result["beforeReload"], result["afterReload"]
    assert [r["method"] for r in before][:2] == ["POST", "PATCH"], before
    answered = [r for r in before + after if "status" in r]  # the reload cut some short
    assert all(r["allowOrigin"] == result["origin"] for r in answered), answered
    assert not any(r["method"] == "POST" for r in after), "the reload must resume, not start over"
    head = next(r for r in after if r["method"] == "HEAD")
    resumed_at = int(head["offset"])
    # The page reloads once its progress passes 512 KiB (two 256 KiB PATCHes): the first was
    # acknowledged before the second began; of the second, cut by the reload, the server keeps
    # what had arrived, which trails the page's progress (that counts bytes handed to the
    # network). 496 KiB was seen once: the first PATCH and 240 KiB of the second.
    assert resumed_at >= 256 * KiB
    first_patch = next(r for r in after if r["method"] == "PATCH")
    assert after.index(head) < after.index(first_patch), after
    assert first_patch["url"] == head["url"] == result["uploadURL"]
    assert int(first_patch["sentOffset"]) == resumed_at
    assert httpx.get(result["uploadURL"]).content == data
