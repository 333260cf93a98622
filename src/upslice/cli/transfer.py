"""`upslice upload|download|status|ls|rm`: the Python client on the command line."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from upslice.client import AsyncClient, Progress, RetryPolicy, Task
from upslice.client.aio import DEFAULT_SERVER
from upslice.client.errors import (
    IntegrityError,
    NotFound,
    RetriesExhausted,
    TransportError,
    UpsliceError,
)

OK, ERROR, USAGE, NOT_FOUND, INTEGRITY, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
EXIT_CODES = (
    "Exit codes: 0 done · 1 error (a server refusal, a local I/O problem) · 2 usage · "
    "3 no such task · 4 integrity failure (hash or checksum mismatch) · "
    "5 server unreachable (retries exhausted) · 130 interrupted (rerun to resume)."
)
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)

Server = Annotated[
    str, typer.Option("--server", "-s", envvar="UPSLICE_SERVER", help="server base URL")
]
Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
Headers = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", help='extra request header "Name: value", repeatable'),
]
Timeout = Annotated[float, typer.Option(help="seconds to wait for the server per request")]
Retries = Annotated[int, typer.Option(help="attempts per request before giving up")]


def parse_size(text: str) -> int:
    """`1048576`, `512k`, `1MiB`, `5MB` (binary multiples throughout)."""
    match = SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size like 1048576, 512KiB or 5M")
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2].lower() or " "))


def parse_headers(values: list[str] | None) -> dict[str, str]:
    headers = {}
    for value in values or []:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


def fail(code: int, message: str) -> NoReturn:
    typer.echo(f"upslice: {message}", err=True)
    raise typer.Exit(code)


def run(make: Callable[[], AsyncClient], work: Callable[[AsyncClient], Awaitable[int]]) -> NoReturn:
    """Run `work` with a client; turn failures and Ctrl-C into the documented exit codes."""

    async def main() -> int:
        async with make() as client:
            return await work(client)

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        fail(INTERRUPTED, "interrupted; run the same command again to resume")
    except NotFound as exc:
        fail(NOT_FOUND, exc.message)
    except IntegrityError as exc:
        fail(INTEGRITY, str(exc))
    except (RetriesExhausted, TransportError) as exc:
        fail(UNREACHABLE, str(exc))
    except UpsliceError as exc:
        fail(ERROR, str(exc))
    except OSError as exc:
        fail(ERROR, str(exc))
    raise typer.Exit(code)


def client_factory(
    server: str, headers: list[str] | None, timeout: float, retries: int
) -> Callable[[], AsyncClient]:
    parsed = parse_headers(headers)
    return lambda: AsyncClient(
        server, headers=parsed, timeout=timeout, retry=RetryPolicy(attempts=retries)
    )


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@contextmanager
def bars(enabled: bool, files: list[Path]) -> Iterator[Callable[[Progress], None]]:
    """Rich progress on stderr: one bar per file and a total; yields the progress callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bars

    sizes = {}
    for path in files:
        try:
            sizes[path.name] = path.stat().st_size
        except OSError:
            sizes[path.name] = 0
    display = Bars(
        TextColumn("[bold]{task.description}", justify="left"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    rows = {p.name: display.add_task(p.name, total=sizes[p.name] or None) for p in files}
    total = display.add_task("total", total=sum(sizes.values()) or None) if len(files) > 1 else None
    done: dict[str, int] = {}

    def update(event: Progress) -> None:
        row = rows.get(event.name)
        if row is None:
            row = rows[event.name] = display.add_task(event.name, total=event.total_bytes)
        label = f"{event.name} (hashing)" if event.phase == "hashing" else event.name
        if event.retries:
            label += f" [yellow]{event.retries} retries[/]"
        display.update(row, description=label, completed=event.done_bytes, total=event.total_bytes)
        if total is not None:
            done[event.name] = 0 if event.phase == "hashing" else event.done_bytes
            display.update(total, completed=sum(done.values()))

    with display:
        yield update


def upload(
    files: Annotated[
        list[Path], typer.Argument(help="files to upload", exists=True, dir_okay=False)
    ],
    server: Server = DEFAULT_SERVER,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64)] = 4,
    chunk_size: Annotated[
        str | None, typer.Option(help="proposed chunk size (1048576, 512KiB, 5M); server clamps")
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="tasks (upslice's API) or tus (any tus 1.0 server's /files/)")
    ] = "tasks",
    hash_algorithm: Annotated[str, typer.Option("--hash", help="md5 or sha256")] = "md5",
    json_output: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Upload FILEs (in parallel chunks, resuming whatever the server already holds).

    Interrupt with Ctrl-C at any point and run the same command again: only the missing chunks
    are sent. Prints each finished task (its id is what download, status and rm take).
    """
    if protocol not in ("tasks", "tus"):
        raise typer.BadParameter("tasks or tus", param_hint="--protocol")
    if hash_algorithm not in ("md5", "sha256"):
        raise typer.BadParameter("md5 or sha256", param_hint="--hash")
    proposal = parse_size(chunk_size) if chunk_size else None
    make = client_factory(server, header, timeout, retries)

    async def work(client: AsyncClient) -> int:
        results: list[dict[str, Any]] = []
        started = time.monotonic()
        with bars(not quiet, files) as progress:
            seen: dict[str, Progress] = {}

            def track(event: Progress) -> None:
                seen[event.name] = event
                progress(event)

            for path in files:
                began = time.monotonic()
                task = await client.upload(
                    path,
                    concurrency=concurrency,
                    chunk_size=proposal,
                    hash_algorithm=hash_algorithm,
                    protocol=protocol,
                    progress=track,
                )
                event = seen.get(task.file_name) or seen.get(path.name)
                sent = event.sent_bytes if event else 0
                results.append(
                    {
                        **task.to_json(),
                        "transfer": {
                            "path": str(path),
                            "sentBytes": sent,
                            "retries": event.retries if event else 0,
                            "seconds": round(time.monotonic() - began, 3),
                        },
                    }
                )
                if not json_output:
                    report_upload(task, path, sent, time.monotonic() - began)
        seconds = time.monotonic() - started
        sent_total = sum(r["transfer"]["sentBytes"] for r in results)
        if json_output:
            emit_json({"tasks": results, "sentBytes": sent_total, "seconds": round(seconds, 3)})
        elif len(files) > 1:
            typer.echo(f"{len(files)} files, sent {human(sent_total)} in {seconds:.1f}s", err=True)
        return OK

    run(make, work)


def report_upload(task: Task, path: Path, sent: int, seconds: float) -> None:
    size = task.file_size or 0
    if task.instant:
        how = "instant (the server already had it)"
    elif sent < size:
        how = f"resumed: sent {human(sent)} of {human(size)}"
    else:
        how = f"sent {human(sent)}"
    speed = f", {human(sent / seconds)}/s" if sent and seconds > 0 else ""
    typer.echo(f"{task.id}  {path}  {human(size)}  {how} in {seconds:.1f}s{speed}")


def download(
    task_id: Annotated[str, typer.Argument(help="task id")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="file or directory (default: here)")
    ] = Path("."),
    server: Server = DEFAULT_SERVER,
    json_output: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Download a finished file; an interrupted download resumes from its .part file, and the
    result is verified against the task's hash before it gets its name."""

    async def work(client: AsyncClient) -> int:
        task = await client.status(task_id)
        name = Path(task.file_name).name or task_id
        with bars(not quiet, [Path(name)]) as progress:
            path = await client.download(
                task_id, output, progress=lambda e: progress(_renamed(e, name))
            )
        if json_output:
            emit_json({"id": task_id, "path": str(path), "bytes": task.file_size})
        else:
            typer.echo(f"{path}  {human(task.file_size or 0)}  {task.hash_algorithm} ok")
        return OK

    run(client_factory(server, header, timeout, retries), work)


def _renamed(event: Progress, name: str) -> Progress:
    return Progress(name, event.phase, event.done_bytes, event.total_bytes, event.sent_bytes)


def status(
    task_id: Annotated[str, typer.Argument(help="task id")],
    server: Server = DEFAULT_SERVER,
    json_output: Json = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Show one task: its state and how much of it the server holds."""

    async def work(client: AsyncClient) -> int:
        task = await client.status(task_id)
        if json_output:
            emit_json(task.to_json())
            return OK
        size = task.file_size or 0
        rows = [
            ("id", task.id),
            ("file", f"{task.file_name} ({task.file_type})"),
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

    run(client_factory(server, header, timeout, retries), work)


def ls(
    server: Server = DEFAULT_SERVER,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
    json_output: Json = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """List your tasks, newest first."""

    async def work(client: AsyncClient) -> int:
        tasks = await client.list(limit)
        # the list leaves out what unfinished tasks have received: ask for each of those
        fresh = await asyncio.gather(*(client.status(t.id) for t in tasks if not t.done))
        by_id = {t.id: t for t in fresh}
        tasks = [by_id.get(t.id, t) for t in tasks]
        if json_output:
            emit_json({"tasks": [t.to_json() for t in tasks]})
            return OK
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "name", "size", "state", "received", "created", box=None)
        for t in tasks:
            size = t.file_size or 0
            share = f"{100 * t.uploaded_bytes / size:.0f}%" if size else "-"
            created = t.created_at.strftime("%Y-%m-%d %H:%M") if t.created_at else ""
            table.add_row(t.id, t.file_name, human(size), t.state, share, created)
        Console().print(table)
        return OK

    run(client_factory(server, header, timeout, retries), work)


def rm(
    task_ids: Annotated[list[str], typer.Argument(help="task ids")],
    server: Server = DEFAULT_SERVER,
    json_output: Json = False,
    header: Headers = None,
    timeout: Timeout = 60.0,
    retries: Retries = 8,
) -> None:
    """Abort unfinished tasks or delete finished ones (and their files)."""

    async def work(client: AsyncClient) -> int:
        for task_id in task_ids:
            await client.delete(task_id)
            if not json_output:
                typer.echo(f"removed {task_id}")
        if json_output:
            emit_json({"removed": task_ids})
        return OK

    run(client_factory(server, header, timeout, retries), work)


def register(app: typer.Typer) -> None:
    for command in (upload, download, status, ls, rm):
        app.command(epilog=EXIT_CODES)(command)
