"""`upslice upload`: files and directory trees, several files at once, each in parallel chunks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from upslice.cli.common import (
    Connection,
    Headers,
    Json,
    NoProgress,
    Quiet,
    Retries,
    Server,
    Timeout,
    Token,
    Transfers,
    Verbose,
    emit_json,
)
from upslice.cli.display import Display, speed
from upslice.cli.exits import (
    OK,
    USAGE,
    fail,
)
from upslice.client import AsyncClient, Progress, Task
from upslice.client.aio import DEFAULT_SERVER
from upslice.sizes import human, parse_size

Globs = Annotated[
    list[str] | None,
    typer.Option(metavar="GLOB", help="with -r: only matching paths, repeatable"),
]


@dataclass(frozen=True)
class Item:
    """One file to send: where it is, and the name and relative path it is sent under."""

    path: Path
    relative: str | None  # inside the directory given with -r


def selected(relative: str, include: list[str], exclude: list[str]) -> bool:
    """rclone-style: a glob without "/" matches a file name at any depth."""
    path = PurePosixPath(relative)
    if any(path.match(g) for g in exclude):
        return False
    return not include or any(path.match(g) for g in include)


def collect(
    paths: list[Path], recursive: bool, include: list[str], exclude: list[str]
) -> list[Item]:
    items: list[Item] = []
    for path in paths:
        if path.is_dir():
            if not recursive:
                fail(USAGE, f"{path} is a directory: add -r to upload what is inside it")
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = found.relative_to(path).as_posix()
                if selected(relative, include, exclude):
                    items.append(Item(found, relative))
        elif path.is_file():
            items.append(Item(path, None))
        else:
            fail(USAGE, f"{path}: no such file or directory")
    return items


def describe(task: Task, sent: int, seconds: float, proved: bool, before: bool) -> str:
    size = task.file_size or 0
    if before:
        how = "already uploaded (same task)"
    elif task.instant and proved:
        how = "instant: the server already had it (proved possession)"
    elif task.instant:
        how = "instant (the server already had it)"
    elif sent < size:
        how = f"resumed: sent {human(sent)} of {human(size)}"
    else:
        how = f"sent {human(sent)}"
    rate = speed(sent, seconds)
    return f"{how} in {seconds:.1f}s" + (f", {rate}" if rate else "")


def upload(
    files: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="files, or directories with -r")
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="upload the files inside directories")
    ] = False,
    include: Globs = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="with -r: skip matching paths, repeatable"),
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    transfers: Transfers = 2,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-c", min=1, max=64, metavar="N", help="chunks in parallel per file"
        ),
    ] = 4,
    chunk_size: Annotated[
        str | None,
        typer.Option(metavar="SIZE", help="proposed chunk size (5M, 512KiB, ...); server clamps"),
    ] = None,
    protocol: Annotated[
        str, typer.Option(metavar="tasks|tus", help="upslice's tasks API, or tus 1.0 at /files/")
    ] = "tasks",
    hash_algorithm: Annotated[
        str, typer.Option("--hash", metavar="md5|sha256", help="whole-file hash")
    ] = "md5",
    hash_first: Annotated[
        bool,
        typer.Option(
            "--hash-first",
            help="hash each whole file before sending a byte: slower, but a file the server "
            "already holds is then instant with nothing sent, and an unfinished upload is "
            "found again by its hash (from another machine too). Default: send while hashing",
        ),
    ] = False,
    json_output: Json = False,
    quiet: Quiet = False,
    no_progress: NoProgress = False,
    verbose: Verbose = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Upload files in parallel chunks, resuming whatever the server already holds.

    Chunks go out at once while the file is hashed beside them; once the hash is known the
    server verifies the file, or ends the upload early when it already holds the file. Use
    --hash-first for files the server likely has already (a re-upload, a shared data set).

    Interrupt with Ctrl-C at any point and run the same command again: only the missing
    chunks are sent (the task is remembered in $UPSLICE_STATE_DIR/uploads.json, default
    ~/.local/state/upslice/). Prints one line per file: its task id (what download, status and rm
    take; a unique file name works too), its path and what was sent. Uploading a finished
    file again gives back the same task.
    """
    if protocol not in ("tasks", "tus"):
        fail(USAGE, f"--protocol: {protocol!r} is not tasks or tus")
    if hash_algorithm not in ("md5", "sha256"):
        fail(USAGE, f"--hash: {hash_algorithm!r} is not md5 or sha256")
    try:
        proposal = parse_size(chunk_size) if chunk_size else None
    except ValueError as exc:
        fail(USAGE, f"--chunk-size: {exc}")
    connection = Connection(server, token, header, timeout, retries, verbose)
    items = collect(files, recursive, include or [], exclude or [])
    display = Display(not (quiet or no_progress or json_output))

    async def one(client: AsyncClient, item: Item, gate: asyncio.Semaphore) -> dict[str, Any]:
        last: Progress | None = None
        proved = False

        def track(event: Progress) -> None:
            nonlocal last, proved
            last, proved = event, proved or event.phase == "proving"
            display.update(event)

        async with gate:
            began = time.monotonic()
            metadata = {"relativePath": item.relative} if item.relative else None
            task = await client.upload(
                item.path,
                concurrency=concurrency,
                chunk_size=proposal,
                hash_algorithm=hash_algorithm,
                protocol=protocol,
                metadata=metadata,
                progress=track,
                hash_first=hash_first,
            )
            seconds = time.monotonic() - began
        sent = last.sent_bytes if last else 0
        before = task.done and not task.instant and sent == 0 and task.uploaded_bytes > 0
        if not json_output:
            how = describe(task, sent, seconds, proved, before and bool(task.file_size))
            size = human(task.file_size or 0)
            display.line(task.id, str(item.relative or item.path), size, how)
        transfer = {"path": str(item.path), "sentBytes": sent, "seconds": round(seconds, 3),
                    "retries": last.retries if last else 0}  # fmt: skip
        return {**task.to_json(), "transfer": transfer}

    async def work(client: AsyncClient) -> int:
        started = time.monotonic()
        gate = asyncio.Semaphore(transfers)
        with display.live():
            for item in items:
                display.add(item.path.name, item.path.stat().st_size)
            if len(items) > 1:
                display.with_total(sum(i.path.stat().st_size for i in items))
            results = await asyncio.gather(*(one(client, i, gate) for i in items))
            seconds = time.monotonic() - started
            sent = sum(r["transfer"]["sentBytes"] for r in results)
            if json_output:
                emit_json({"tasks": results, "sentBytes": sent, "seconds": round(seconds, 3)})
            elif len(items) > 1 and not quiet:
                rate = speed(sent, seconds)
                display.note(
                    f"{len(items)} files, sent {human(sent)} in {seconds:.1f}s"
                    + (f", {rate}" if rate else "")
                )
        return OK

    connection.run(work)
