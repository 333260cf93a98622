"""Progress on stderr, and result lines on stdout that the live display never erases.

While bars are live on a terminal, result lines are printed through the display's console,
which puts them above the bars; otherwise they go straight to stdout. Every size and speed is
in binary units (MiB, MiB/s), the same in bars, result lines and summaries.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from upslice.client import Progress
from upslice.sizes import human

if TYPE_CHECKING:
    from rich.progress import Progress as Bars
    from rich.progress import Task as Row
    from rich.progress import TaskID
    from rich.text import Text


def speed(n_bytes: float, seconds: float) -> str:
    return f"{human(n_bytes / seconds)}/s" if n_bytes and seconds > 0 else ""


def _status_column() -> type:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Status(ProgressColumn):
        """MiB/s and time left, or why the transfer is waiting and how often it retried."""

        def render(self, task: Row) -> Text:
            waiting = task.fields.get("waiting")
            if waiting:
                return Text(f"retrying ({task.fields.get('retries', 0)}) — {waiting}", "yellow")
            rate = task.finished_speed or task.speed
            if task.finished or not rate:
                return Text(f"{human(rate)}/s" if rate else "", "green")
            left = int((task.remaining or 0) / rate)
            return Text(f"{human(rate)}/s  {left // 60}:{left % 60:02d} left", "cyan")

    return Status


class Display:
    """Bars for files being transferred (when `enabled`), and the lines that report them."""

    def __init__(self, enabled: bool) -> None:
        self.bars: Bars | None = None
        self.rows: dict[str, TaskID] = {}
        self.done: dict[str, int] = {}
        self.total_row: TaskID | None = None
        self.enabled = enabled and sys.stderr.isatty()

    def add(self, name: str, size: int | None) -> None:
        if self.bars is not None and name not in self.rows:
            self.rows[name] = self.bars.add_task(name, total=size or None, waiting=None)

    def with_total(self, size: int) -> None:
        if self.bars is not None:
            self.total_row = self.bars.add_task("total", total=size or None, waiting=None)

    def update(self, event: Progress) -> None:
        if self.bars is None:
            return
        self.add(event.name, event.total_bytes)
        label = f"{event.name} (hashing)" if event.phase == "hashing" else event.name
        self.bars.update(
            self.rows[event.name],
            description=label,
            completed=event.done_bytes,
            total=event.total_bytes,
            waiting=event.waiting,
            retries=event.retries,
        )
        if self.total_row is not None:
            self.done[event.name] = 0 if event.phase == "hashing" else event.done_bytes
            self.bars.update(self.total_row, completed=sum(self.done.values()))

    def line(self, *fields: str) -> None:
        """A result line for stdout, kept clear of the live bars: tab-separated for programs,
        two spaces apart on a terminal."""
        if not sys.stdout.isatty():
            typer.echo("\t".join(fields))
        elif self.bars is not None:
            self.bars.console.print(
                "  ".join(fields), markup=False, highlight=False, soft_wrap=True, crop=False
            )
        else:
            typer.echo("  ".join(fields))

    def note(self, text: str) -> None:
        """A line for stderr (summaries, skips), above the bars when they are live."""
        if self.bars is not None:
            self.bars.console.print(text, markup=False, highlight=False, soft_wrap=True, crop=False)
        else:
            typer.echo(text, err=True)

    @contextmanager
    def live(self) -> Iterator[Display]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn
        from rich.progress import Progress as RichProgress

        self.bars = RichProgress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=20),
            DownloadColumn(binary_units=True),
            _status_column()(),
            console=Console(stderr=True),
            expand=False,
        )
        try:
            with self.bars:
                yield self
        finally:
            self.bars = None
