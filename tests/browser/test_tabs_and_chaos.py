"""Two tabs with one file, and chaos the browser cannot hide (issue 16, items 3 and 8)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.browser.test_demo import (
    QUERY,
    SMALL_CHUNKS,
    assert_stored,
    bytes_received,
    run_scenario,
    write_random,
)
from tests.server_process import ServerProcess

MiB = 1024 * 1024


@pytest.mark.browser
@pytest.mark.parametrize("hash_first", [True, False], ids=["hash-first", "hash-later"])
def test_two_tabs_send_the_file_once(
    server: ServerProcess, client: httpx.Client, tmp_path: Path, hash_first: bool
) -> None:
    data = write_random(tmp_path / "shared.bin", 2 * MiB)
    before = bytes_received(client)
    result = run_scenario(
        "tabs.mjs",
        url=server.url,
        file=str(tmp_path / "shared.bin"),
        # hash first: both tabs are held while hashing, then race; hash later: they race at once
        query={**QUERY, "hashFirst": 1} if hash_first else QUERY,
        holdHashing=hash_first,
        throttle=700_000,
    )
    first, second = result["rows"]
    assert bytes_received(client) - before == len(data), "the server received every byte once"
    assert first["taskId"] == second["taskId"], "both tabs joined one task"
    assert_stored(client, first, data)
    assert sorted(result["followed"]) == [False, True], "one tab sent, the other followed"
    assert first["retries"] == second["retries"] == 0


@pytest.mark.browser
def test_client_retries_resets_and_stalls_itself(tmp_path: Path) -> None:
    data = write_random(tmp_path / "flaky.bin", MiB // 2)
    # seed 1: the first chunk requests draw resets and a stall (the draws follow the seed)
    chaos = "reset=0.25,stall=0.1,seed=1"
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--chaos", chaos).start()
    try:
        result = run_scenario(
            "chaos_retry.mjs",
            allow_failed_loads=True,
            url=proc.url,
            file=str(tmp_path / "flaky.bin"),
            query={**QUERY, "retryDelay": 50, "stallTimeout": 1500},
        )
        [row] = result["rows"]
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            assert_stored(client, row, data)
    finally:
        proc.stop()
    codes = result["retryCodes"]
    assert "network_error" in codes, f"no reset reached the page's retry path: {codes}"
    assert "stalled" in codes, f"no stall reached the page's timeout: {codes}"
    assert row["retries"] == len(codes)
