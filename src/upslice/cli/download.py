"""`upslice download`: one or several tasks, into a file, a directory, or stdout."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
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
from upslice.cli.display import Display
from upslice.cli.exits import (
    OK,
    USAGE,
    fail,
)
from upslice.cli.tasks import Refs, find
from upslice.client import AsyncClient, Progress
from upslice.client.aio import DEFAULT_SERVER
from upslice.sizes import human


def download(
    refs: Refs,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="a file, a directory (a name ending in / is created), or - for stdout",
        ),
    ] = ".",
    no_clobber: Annotated[
        bool, typer.Option("--no-clobber", "-n", help="skip files that already exist")
    ] = False,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    transfers: Transfers = 2,
    json_output: Json = False,
    quiet: Quiet = False,
    no_progress: NoProgress = False,
    verbose: Verbose = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Download finished files by task id or unique file name.

    An interrupted download resumes from its .part file, and every file is verified against
    its task's hash before it takes its name. With several tasks, -o is a directory.
    """
    to_stdout = output == "-"
    if to_stdout and len(refs) > 1:
        fail(USAGE, "-o - (stdout) takes one task, not several")
    if len(refs) > 1 and not output.endswith("/"):
        output += "/"
    if not to_stdout and not output.endswith("/") and Path(output).is_dir():
        output += "/"
    connection = Connection(server, token, header, timeout, retries, verbose)
    display = Display(not (quiet or no_progress or json_output))

    async def one(client: AsyncClient, ref: str, gate: asyncio.Semaphore) -> dict[str, Any]:
        async with gate:
            task = await find(client, ref)
            name = Path(task.file_name).name or task.id
            display.add(name, task.file_size)

            def progress(event: Progress) -> None:
                display.update(Progress(name, event.phase, event.done_bytes, event.total_bytes))

            size = task.file_size or 0
            if to_stdout:
                await client.stream(task.id, sys.stdout.buffer, progress=progress)
                sys.stdout.buffer.flush()
                display.note(f"{task.id}  -  {human(size)}  {task.hash_algorithm} ok")
                return {"id": task.id, "path": "-", "bytes": size}
            try:
                path = await client.download(
                    task.id, output, progress=progress, overwrite=not no_clobber
                )
            except FileExistsError as exc:
                display.note(f"skipped {exc.filename}: it exists (--no-clobber)")
                return {"id": task.id, "path": exc.filename, "bytes": size, "skipped": True}
            if not json_output:
                display.line(task.id, str(path), human(size), f"{task.hash_algorithm} ok")
            return {"id": task.id, "path": str(path), "bytes": size}

    async def work(client: AsyncClient) -> int:
        gate = asyncio.Semaphore(transfers)
        with display.live():
            results = await asyncio.gather(*(one(client, r, gate) for r in refs))
        if json_output:
            emit_json(results[0] if len(results) == 1 else {"downloads": results})
        return OK

    connection.run(work)
