"""The browser client proves possession (File.slice + crypto.subtle) in real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_demo import CHUNK, run_scenario, write_random
from tests.client.helpers import bytes_received
from tests.host_app import HostApp


@pytest.mark.browser
def test_bob_gets_alices_file_instantly_from_his_own_bytes(host: HostApp, tmp_path: Path) -> None:
    data = write_random(tmp_path / "video.raw", 10 * CHUNK + 99)
    page = f"{host.url}/?chunkSize={CHUNK}&hashFirst=1"
    first = run_scenario("prove.mjs", page=page, user="alice", files=[str(tmp_path / "video.raw")])
    [row] = first["rows"]
    assert not row["instant"] and first["proved"] == [False]
    assert first["sent"] == {"chunks": 11, "proofs": 1}  # tried, the server lacked it
    received = bytes_received(host.url)

    second = run_scenario("prove.mjs", page=page, user="bob", files=[str(tmp_path / "video.raw")])
    [row] = second["rows"]
    assert (
        row["instant"]
        and second["proved"] == [True]
        and row["taskId"] != first["rows"][0]["taskId"]
    )
    assert second["sent"] == {"chunks": 0, "proofs": 1}
    assert bytes_received(host.url) == received
    with host.client("bob") as bob:
        assert bob.get(row["fileUrl"]).content == data
    with host.client("alice") as alice:
        assert alice.get(row["fileUrl"]).status_code == 404  # bob's own task


@pytest.mark.browser
def test_a_one_chunk_file_is_sent_not_proved(host: HostApp, tmp_path: Path) -> None:
    write_random(tmp_path / "note.txt", CHUNK - 1)
    page = f"{host.url}/?chunkSize={CHUNK}"
    result = run_scenario("prove.mjs", page=page, user="alice", files=[str(tmp_path / "note.txt")])
    assert result["sent"] == {"chunks": 1, "proofs": 0}


@pytest.mark.browser
def test_bob_proves_after_declaring_the_hash_and_stops_sending(
    host: HostApp, tmp_path: Path
) -> None:
    """Hash-later: bob's chunks start at once; his declared hash brings a challenge, his proof
    makes the task done and instant, and the rest of the file is not sent."""
    data = write_random(tmp_path / "film.raw", 40 * CHUNK + 7)
    page = f"{host.url}/?chunkSize={CHUNK}&concurrency=1"
    first = run_scenario("prove.mjs", page=page, user="alice", files=[str(tmp_path / "film.raw")])
    assert not first["rows"][0]["instant"]
    received = bytes_received(host.url)

    second = run_scenario(
        "prove.mjs", page=page, user="bob", files=[str(tmp_path / "film.raw")], throttle=500_000
    )
    [row] = second["rows"]
    assert row["instant"] and second["proved"] == [True]
    assert row["message"] == "The server already had this file: the upload stopped early."
    assert second["sent"]["proofs"] == 1 and second["sent"]["chunks"] < 40
    assert bytes_received(host.url) - received < len(data) // 2
    with host.client("bob") as bob:
        assert bob.get(row["fileUrl"]).content == data
