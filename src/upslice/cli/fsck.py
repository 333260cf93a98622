"""`upslice fsck`: check the data store against the metadata, and repair what is safe.

Exit status: 0 clean, 1 damage found (or still left after --repair), 2 usage error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from upslice.cli.server import DatabaseUrl, DataDir, GraceSeconds, grace_of, settings_from
from upslice.fsck import Report, check, repair
from upslice.logs import configure_logging


def fsck(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    grace_seconds: GraceSeconds = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="remove orphan bytes and records whose bytes are gone; "
            "never touches a complete upload's file",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Compare stored bytes with upload records; exit 1 when damage is found (or left)."""
    from upslice.wiring import build_data_store, build_meta_store

    settings = settings_from(
        data_dir=data_dir, database_url=database_url, orphan_grace_seconds=grace_seconds
    )
    configure_logging("warning")
    if not settings.data_dir.is_dir():
        raise typer.BadParameter(f"{settings.data_dir} is not a directory", param_hint="--data-dir")

    async def run() -> Report:
        data, meta = build_data_store(settings), build_meta_store(settings)
        await data.open()
        await meta.open()
        try:
            report = await check(data, meta, grace=grace_of(settings))
            if fix:
                await repair(data, meta, report)
            return report
        finally:
            await meta.close()
            await data.close()

    report = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        for finding in report.findings:
            typer.echo(finding.line())
        typer.echo(report.summary())
    raise typer.Exit(1 if report.damaged else 0)


def register(app: typer.Typer) -> None:
    app.command()(fsck)
