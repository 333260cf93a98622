"""The demo page for keyboard, screen-reader and phone users (issue 16, items 5, 6 and 7).

One Chromium run walks the demo through idle, hashing, uploading, failed, paused and done, runs
axe-core (WCAG 2.2 AA rules) on each, and checks the 390 px layout, focus and the messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_demo import (
    ARTIFACTS,
    QUERY,
    SMALL_CHUNKS,
    run_scenario,
    write_random,
)
from tests.server_process import ServerProcess

MiB = 1024 * 1024
SERIOUS = {"serious", "critical"}
STATES = {"idle", "hashing", "uploading", "failed", "paused", "phone", "done"}


@pytest.mark.browser
def test_demo_states_are_accessible_and_fit_a_phone(tmp_path: Path) -> None:
    files = {"main": "big.iso", "huge": "huge.bin", "later": "later.tar"}
    sizes = {"main": 1 * MiB, "huge": 3 * MiB, "later": 2 * MiB}
    for key, name in files.items():
        write_random(tmp_path / name, sizes[key])
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-phone-390.png"
    proc = ServerProcess(tmp_path / "data", *SMALL_CHUNKS, "--max-file-size", str(2 * MiB)).start()
    try:
        result = run_scenario(
            "ui.mjs",
            allow_failed_loads=True,  # the 413 of huge.bin
            url=proc.url,
            query={**QUERY, "hashFirst": 1},  # walks through the hashing state
            throttle=400_000,
            files={key: str(tmp_path / name) for key, name in files.items()},
            screenshot=str(shot),
        )
    finally:
        proc.stop()
    for state, violations in result["audits"].items():
        assert [v for v in violations if v["impact"] in SERIOUS] == [], state
    assert set(result["audits"]) == STATES

    phone = result["phone"]
    assert phone["scrollWidth"] <= phone["width"] == 390, phone
    assert phone["outside"] == [], phone
    assert shot.stat().st_size > 10_000

    assert result["focusAfterPause"] == "Resume big.iso", "focus moves to the button that appears"
    assert result["focusAfterResume"] == "Pause big.iso"
    assert result["pausedText"].count("Paused") == 1, result["pausedText"]
    assert "missing chunks" not in result["messageAfterResume"], "a stale pause message"
    assert "big.iso" in result["announced"], "state changes reach the live region"
    widths = result["widths"]
    assert widths["hashing"] == widths["uploading"] == widths["paused"] == widths["done"], widths

    assert "Unfinished — choose the file again to resume." in result["unfinishedText"]
    again = result["again"]
    assert again["state"] == "done" and again["hashText"] == "saved", again
    assert result["hashed"] == [], "a finished file chosen again is not hashed again"
    assert "nothing was sent" in again["message"]
    assert result["sentAgain"] == 0
