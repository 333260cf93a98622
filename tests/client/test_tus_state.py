"""The client's resume state: uploads that run at once must each keep their entry."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from upslice.client.tus_state import TusState
from upslice.client.upload_state import UploadState

WRITES = 30

WRITER = """
import sys
from pathlib import Path
from upslice.client.upload_state import UploadState
state = UploadState(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    state.put(f"{sys.argv[2]}-{i}", {"taskId": f"{sys.argv[2]}-{i}"})
"""


def test_separate_processes_writing_at_once_lose_no_entry(tmp_path: Path) -> None:
    """Six `upslice upload` runs at once, as `for f in *; do upslice upload $f & done` does."""
    path = tmp_path / "uploads.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}", str(WRITES)])
        for n in range(6)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 6
    state = UploadState(path)
    missing = [
        f"p{n}-{i}" for n in range(6) for i in range(WRITES) if state.get(f"p{n}-{i}") is None
    ]
    assert not missing, f"{len(missing)} entries were lost, e.g. {missing[:3]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads.json", "uploads.json.lock"]


def test_threads_writing_and_forgetting_at_once_keep_the_rest(tmp_path: Path) -> None:
    state = TusState(tmp_path / "tus.json")
    for n in range(4):
        state.put(f"gone-{n}", {"url": "x"})

    def work(n: int) -> None:
        state.forget(f"gone-{n}")
        for i in range(WRITES):
            state.put(f"t{n}-{i}", {"url": f"/files/{n}-{i}"})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    kept = [state.get(f"t{n}-{i}") for n in range(4) for i in range(WRITES)]
    assert all(entry is not None for entry in kept), "an entry written at once was lost"
    assert [entry["url"] for entry in kept if entry] == [
        f"/files/{n}-{i}" for n in range(4) for i in range(WRITES)
    ]
    assert all(state.get(f"gone-{n}") is None for n in range(4))
