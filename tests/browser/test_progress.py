"""Progress the page reports against the server's truth, and what it shows while the server is down.

One Chromium run: a throttled upload sampled against the server's `uploadedBytes`, a pause and a
resume, then the server killed mid-upload (issue 16, items 1 and 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_demo import CHUNK, QUERY, SMALL_CHUNKS, run_scenario, write_random
from tests.server_process import ServerProcess

CONCURRENCY = 4
SIZE = 2 * 1024 * 1024


@pytest.mark.browser
def test_progress_is_true_and_decays_while_the_server_is_down(tmp_path: Path) -> None:
    write_random(tmp_path / "big.iso", SIZE)
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS).start()
    assert proc.proc is not None
    try:
        result = run_scenario(
            "progress.mjs",
            allow_failed_loads=True,  # the requests that hit the dead server
            url=proc.url,
            file=str(tmp_path / "big.iso"),
            size=SIZE,
            pid=proc.proc.pid,
            query={**QUERY, "concurrency": CONCURRENCY, "retryDelay": 300},
            throttle=250_000,
            steps=5,
            pauseAt=0.25,
            killAt=0.6,
        )
    finally:
        proc.stop()
    samples = result["samples"]
    assert len(samples) == 7, samples
    in_flight = CONCURRENCY * CHUNK
    for sample in samples:
        assert sample["page"] <= sample["server"] + in_flight, f"more than the truth: {sample}"
    loaded = result["eventsBeforeKill"]
    assert loaded == sorted(loaded), "progress went backwards without a refused chunk"
    assert result["afterPause"] >= result["beforePause"], "pausing moved the bar back"
    assert max(loaded) < SIZE, "no 100% before the end"
    speeds = result["speedsAfterKill"]
    assert result["speedAtKill"] > 0
    # bytes already handed to the network may still report progress just after the kill; then
    # nothing moves, and the speed must fall rather than stay frozen
    assert speeds[-1] < 0.7 * max(speeds), f"frozen: {speeds}"
    assert max(result["retryingAfterKill"]) >= 1
    assert result["etaText"].startswith("retrying ("), result["etaText"]
