"""The live inspector: who may open it, the chaos knobs at runtime, and the page itself in
Chromium while an upload goes on (with a screenshot in test-artifacts/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.test_demo import ARTIFACTS, run_scenario
from tests.server_process import ServerProcess
from tests.threaded_server import threaded_server
from upslice.app import create_app
from upslice.settings import Settings


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("inspect") / "data", "--min-chunk-size", "1024")
    yield proc.start()
    proc.stop()


@pytest.mark.browser
def test_the_page_shows_a_chunk_arriving_a_chaos_failure_and_the_retry(
    watched: ServerProcess,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "inspector.png"
    shot.unlink(missing_ok=True)
    result = run_scenario("inspector.mjs", url=watched.url, screenshot=str(shot))
    assert result["failed"]["status"] in (500, 503)
    assert "injected failure" in result["failed"]["body"]
    assert result["retried"]["status"] == 200 and result["second"]["status"] == 200
    assert result["third"]["status"] == 200
    [row] = [r for r in result["errorRows"] if r[1] == "PUT"]
    assert row[2] == f"/api/task/{result['taskId']}/chunk/0"
    assert row[3] in ("500", "503") and "injected failure" in row[5]
    assert result["finalStates"] == ["resent", "received", "received", "missing"]
    assert shot.stat().st_size > 10_000
    task = httpx.get(f"{watched.url}/api/task/{result['taskId']}").json()
    assert task["receivedChunks"] == [0, 1, 2]


def test_chaos_knobs_switch_at_runtime(watched: ServerProcess) -> None:
    with httpx.Client(base_url=watched.url) as client:
        task = client.post(
            "/api/task", json={"fileName": "k.bin", "fileSize": 2048, "chunkSize": 1024,
                               "hash": "c" * 32},
        ).json()  # fmt: skip
        bad = client.put("/inspect/chaos", json={"fail": 2})
        assert bad.status_code == 400 and "fail" in bad.text
        assert client.put("/inspect/chaos", json={"fail": 1}).json()["fail"] == 1
        failed = client.put(f"/api/task/{task['id']}/chunk/0", content=b"k" * 1024)
        assert failed.status_code in (500, 503)
        assert client.put("/inspect/chaos", json={"fail": 0}).json()["fail"] == 0
        assert client.put(f"/api/task/{task['id']}/chunk/0", content=b"k" * 1024).status_code == 200
        state = client.get("/inspect/state").json()
    [upload] = [u for u in state["uploads"] if u["id"] == task["id"]]
    assert upload["chunks"] == ["resent", "missing"]
    puts = [r for r in state["requests"] if r["uploadId"] == task["id"] and r["method"] == "PUT"]
    assert [r["status"] for r in puts][-1] == 200
    assert "injected failure" in puts[-2]["error"]


@pytest.mark.parametrize(
    ("overrides", "query", "status"),
    [({"host": "0.0.0.0"}, "", 404),  # auto: never off loopback
     ({"demo": False}, "", 404),  # auto: only with the demo
     ({"inspector": "off"}, "", 404),
     ({"host": "0.0.0.0", "inspector": "on", "inspector_token": "t0k"}, "", 401),
     ({"host": "0.0.0.0", "inspector": "on", "inspector_token": "t0k"}, "?token=nope", 401),
     ({"host": "0.0.0.0", "inspector": "on", "inspector_token": "t0k"}, "?token=t0k", 200)],
)  # fmt: skip
def test_who_may_open_it(
    tmp_path: Path, overrides: dict[str, object], query: str, status: int
) -> None:
    settings = Settings(data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]
    with threaded_server(create_app(settings), host=str(settings.host)) as url:
        assert httpx.get(f"{url}/inspect/state{query}").status_code == status


def test_on_off_loopback_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(host="0.0.0.0", inspector="on", data_dir=tmp_path / "data")
    with pytest.raises(ValueError, match="inspector-token"):
        create_app(settings)
