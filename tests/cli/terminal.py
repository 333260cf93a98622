"""Run the CLI in a pseudo-terminal of a given width and read the screen a user would see.

pexpect gives the command a real tty (so Rich draws live bars); pyte replays the bytes as a
terminal would, so a test sees what is left on screen after cursor moves and erases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pexpect
import pyte

ROWS = 200


@dataclass
class Terminal:
    """One command on a `columns`-wide terminal; `screen()` is what is visible now."""

    args: tuple[str, ...]
    columns: int
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def __post_init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env.update({"TERM": "xterm-256color", **self.env})
        self.vt = pyte.Screen(self.columns, ROWS)
        self.stream = pyte.ByteStream(self.vt)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "upslice", *self.args],
            dimensions=(ROWS, self.columns),
            env=env,
            cwd=self.cwd,
            preexec_fn=_default_sigint,
        )

    def pump(self, seconds: float = 0.2) -> bool:
        """Feed what arrived within `seconds` to the screen; False once the command ended."""
        try:
            self.stream.feed(self.child.read_nonblocking(1 << 16, timeout=seconds))
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return False
        return True

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self.vt.display if line.strip()]

    def wait_for(self, condition: Callable[[list[str]], bool], deadline: float = 60) -> None:
        end = time.monotonic() + deadline
        while not condition(self.screen()):
            assert time.monotonic() < end, "\n".join(self.screen())
            assert self.pump(), "the command ended first:\n" + "\n".join(self.screen())

    def finish(self, deadline: float = 120) -> int:
        """Read to the end; the exit status."""
        end = time.monotonic() + deadline
        while self.pump():
            assert time.monotonic() < end, "\n".join(self.screen())
        self.child.close()
        status: int = self.child.exitstatus
        return status


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with stdout and stderr captured (no terminal)."""
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "upslice", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )
