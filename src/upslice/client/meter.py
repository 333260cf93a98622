"""Turns byte counts into `Progress` events for one file."""

from __future__ import annotations

from collections.abc import Callable

from upslice.client.errors import ServerError, TransportError
from upslice.client.models import Progress

ProgressCallback = Callable[[Progress], None]


def why_retrying(exc: BaseException | None) -> str:
    """A few words for a progress line: what the retries are waiting out."""
    if isinstance(exc, TransportError):
        return "server unreachable"
    if isinstance(exc, ServerError):
        return f"server busy ({exc.status})" if exc.status in (429, 503) else f"{exc.status}"
    return "failed"


class Meter:
    """One file's progress; `waiting` says why retries are going on (None when flowing)."""

    def __init__(self, name: str, total: int, callback: ProgressCallback | None) -> None:
        self.name = name
        self.total = total
        self.callback = callback
        self.phase = "hashing"
        self.done = 0
        self.sent = 0
        self.retries = 0
        self.waiting: str | None = None

    def start(self, phase: str, done: int = 0) -> None:
        self.phase, self.done = phase, done
        self._emit()

    def add(self, n: int, *, wire: bool = True) -> None:
        """`n` more bytes handled (negative to take back bytes of a failed attempt)."""
        self.done += n
        if n > 0:
            self.waiting = None
        if wire and self.phase != "hashing":
            self.sent += n
        self._emit()

    def retry(self, exc: BaseException | None = None) -> None:
        self.retries += 1
        self.waiting = why_retrying(exc)
        self._emit()

    def finish(self) -> None:
        self.start("done", self.total)

    def _emit(self) -> None:
        if self.callback is not None:
            self.callback(
                Progress(
                    self.name,
                    self.phase,
                    self.done,
                    self.total,
                    self.sent,
                    self.retries,
                    self.waiting,
                )
            )
