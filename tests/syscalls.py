"""strace attached to a running server: which files it really fsyncs (tests/cli/test_server.py).

Reading the settings or the code cannot show that an acknowledged chunk reached the disk;
the system calls the process makes can.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from types import TracebackType

from tests.waiting import wait_for

SYNC_CALL = re.compile(r"\b(?:fsync|fdatasync)\((\d+)<([^>]*)>\)\s*=\s*0")


class SyncTrace:
    """Records the fsync/fdatasync calls of process `pid` and all its threads (strace -f -y)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid = pid
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SyncTrace:
        command = ["strace", "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(self.out),
                   "-p", str(self.pid)]  # fmt: skip
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline().decode()  # "strace: Process N attached ..."
        assert "attached" in first, f"strace could not attach: {first}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # detach; the output file is complete on exit
        self.proc.wait(30)

    def synced(self) -> list[Path]:
        """The files (and directories) successfully synced, one entry per call."""
        wait_for(self.out.exists, "strace's output file", 10)
        return [Path(m.group(2)) for m in SYNC_CALL.finditer(self.out.read_text())]
