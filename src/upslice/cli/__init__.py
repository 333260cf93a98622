"""The `upslice` command line: one Typer app, each group of commands in its own module."""

from __future__ import annotations

import typer

from upslice.cli import server, transfer

app = typer.Typer(
    name="upslice",
    help="Resumable, chunked file uploads: run the server, or upload and manage files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
server.register(app)
transfer.register(app)


def main() -> None:
    app()
