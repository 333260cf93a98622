"""A benchmark row (one path, its median over rounds and their [min-max]) and its table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass
class Row:
    name: str
    seconds: float
    size: int
    peak_rss: int | None = None
    note: str = ""
    spread: tuple[float, float] | None = None  # [min-max] MiB/s over rounds

    @property
    def mbps(self) -> float:
        return self.size / MiB / self.seconds


def peak_rss(pid: int) -> int:
    """VmHWM: the process's resident-set high-water mark, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def median_row(runs: list[Row]) -> Row:
    """The run of median speed, with the [min-max] of all of them and the highest RSS."""
    ordered = sorted(runs, key=lambda row: row.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    rss = [row.peak_rss for row in runs if row.peak_rss]
    spread = (ordered[-1].mbps, ordered[0].mbps) if len(runs) > 1 else None
    return Row(middle.name, middle.seconds, middle.size, max(rss) if rss else None,
               middle.note, spread)  # fmt: skip


def print_table(rows: list[Row], size: int) -> None:
    print(f"\nUpload of {size // MiB} MiB over loopback, {os.cpu_count()} cores\n")
    print("| path | MiB/s | seconds | server peak RSS | note |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        rss = f"{row.peak_rss / MiB:.0f} MiB" if row.peak_rss else "-"
        speed = f"{row.mbps:.0f}"
        if row.spread is not None:
            speed += f" [{row.spread[0]:.0f}-{row.spread[1]:.0f}]"
        print(f"| {row.name} | {speed} | {row.seconds:.2f} | {rss} | {row.note} |")


def print_client_targets(rows: list[Row]) -> None:
    """Issue 11's two targets read in this table: the CLI against the tasks API's 4-stream
    row, and the browser end to end against hash-wasm's MD5, both >= 0.8x."""
    speed = {row.name: row.mbps for row in rows}
    pairs = [
        ("`upslice upload` / tasks API 4 streams", "upslice CLI upload, 4 streams",
         "upslice tasks API, 4 streams"),
        ("browser end to end / hash-wasm MD5", "browser client, end to end (choose file -> done)",
         "browser: hash-wasm MD5 in a Web Worker"),
    ]  # fmt: skip
    print()
    for label, mine, reference in pairs:
        if mine in speed and reference in speed:
            value = speed[mine] / speed[reference]
            verdict = "met" if value >= 0.8 else "not met"
            print(f"- {label}: {value:.2f}x (>= 0.8x asked): {verdict}")
