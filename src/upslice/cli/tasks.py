"""`upslice status|ls|rm`, and finding a task by its id or its unique file name."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from upslice.cli.common import (
    Ambiguous,
    Connection,
    Headers,
    Json,
    Retries,
    Server,
    Timeout,
    Token,
    Verbose,
    emit_json,
)
from upslice.cli.exits import (
    ERROR,
    NOT_FOUND,
    OK,
)
from upslice.client import AsyncClient, NotFound, ServerError, Task
from upslice.client.aio import DEFAULT_SERVER
from upslice.sizes import human

Refs = Annotated[list[str], typer.Argument(metavar="ID|NAME", help="task ids or file names")]


def shown_name(task: Task) -> str:
    """The path given to `upload -r` when there was one, else the file name."""
    relative = task.metadata.get("relativePath")
    return relative if isinstance(relative, str) and relative else task.file_name


async def find(client: AsyncClient, ref: str) -> Task:
    """The task with id `ref`, or the only one of yours whose name or relative path is `ref`."""
    try:
        return await client.status(ref)
    except NotFound:
        pass
    named = [t for t in await client.list(1000) if ref in (t.file_name, shown_name(t))]
    if not named:
        raise NotFound(404, "not_found", f"no task with the id or name {ref!r}")
    if len(named) > 1:
        ids = " ".join(t.id for t in named)
        raise Ambiguous(f"{len(named)} tasks are named {ref!r}; give one of their ids: {ids}")
    return named[0]


def status(
    ref: Annotated[str, typer.Argument(metavar="ID|NAME", help="task id or file name")],
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    json_output: Json = False,
    verbose: Verbose = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Show one task: its state and how much of it the server holds."""

    async def work(client: AsyncClient) -> int:
        task = await find(client, ref)
        if json_output:
            emit_json(task.to_json())
            return OK
        size = task.file_size or 0
        rows = [
            ("id", task.id),
            ("file", f"{shown_name(task)} ({task.file_type})"),
            ("size", f"{human(size)} ({size} bytes)"),
            ("state", task.state + (" (instant)" if task.instant else "")),
            ("received", f"{human(task.uploaded_bytes)}, {len(task.received_chunks)} of "
                         f"{task.chunk_count} chunks of {human(task.chunk_size)}"),
            ("hash", f"{task.hash_algorithm} {task.hash}"),
            ("created", str(task.created_at)),
            ("expires", str(task.expires_at) if task.expires_at else "never"),
        ]  # fmt: skip
        if task.file_url:
            rows.append(("url", task.file_url))
        for key, value in rows:
            typer.echo(f"{key:>9}  {value}")
        return OK

    Connection(server, token, header, timeout, retries, verbose).run(work)


def ls(
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, metavar="N", help="at most N tasks")] = 100,
    json_output: Json = False,
    verbose: Verbose = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """List your tasks, newest first.

    On a terminal: a table. Otherwise (a pipe, a file, CI): one line per task, tab-separated,
    never truncated: id, name, size in bytes, state, bytes received, created (ISO 8601).
    """

    async def work(client: AsyncClient) -> int:
        tasks = await client.list(limit)
        # the list leaves out what unfinished tasks have received: ask for each of those
        fresh = await asyncio.gather(*(client.status(t.id) for t in tasks if not t.done))
        by_id = {t.id: t for t in fresh}
        tasks = [by_id.get(t.id, t) for t in tasks]
        if json_output:
            emit_json({"tasks": [t.to_json() for t in tasks]})
        elif sys.stdout.isatty():
            table(tasks)
        else:
            for t in tasks:
                created = t.created_at.isoformat() if t.created_at else ""
                fields = (t.id, shown_name(t), t.file_size or 0, t.state, t.uploaded_bytes, created)
                typer.echo("\t".join(str(f) for f in fields))
        return OK

    Connection(server, token, header, timeout, retries, verbose).run(work)


def table(tasks: list[Task]) -> None:
    """A terminal table whose ids are never cut: long names wrap instead."""
    from rich.console import Console
    from rich.table import Table

    width = max((len(t.id) for t in tasks), default=2)
    grid = Table(box=None, pad_edge=False)
    grid.add_column("id", no_wrap=True, min_width=width)
    grid.add_column("name", overflow="fold", ratio=1)
    for column in ("size", "state", "received", "created"):
        grid.add_column(column, no_wrap=True)
    for t in tasks:
        size = t.file_size or 0
        share = f"{100 * t.uploaded_bytes / size:.0f}%" if size else "-"
        created = t.created_at.strftime("%Y-%m-%d %H:%M") if t.created_at else ""
        grid.add_row(t.id, shown_name(t), human(size), t.state, share, created)
    Console(soft_wrap=False).print(grid)


def rm(
    refs: Refs,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    json_output: Json = False,
    verbose: Verbose = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Abort unfinished tasks or delete finished ones (and their files).

    Tries every task given and names each one that failed; the exit code is that of the
    first failure.
    """

    async def work(client: AsyncClient) -> int:
        removed: list[str] = []
        failed: dict[str, str] = {}
        code = OK
        for ref in refs:
            try:
                task = await find(client, ref)
                await client.delete(task.id)
            except NotFound:
                failed[ref] = "no such task"
                code = code or NOT_FOUND
            except (Ambiguous, ServerError) as exc:
                failed[ref] = str(exc)
                code = code or ERROR
            else:
                removed.append(task.id)
                if not json_output:
                    typer.echo(f"removed {task.id}" + (f" ({ref})" if ref != task.id else ""))
        for ref, why in failed.items():
            typer.echo(f"upslice: rm {ref}: {why}", err=True)
        if json_output:
            emit_json({"removed": removed, "failed": failed})
        return code

    Connection(server, token, header, timeout, retries, verbose).run(work)
