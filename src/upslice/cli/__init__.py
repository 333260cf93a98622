"""The `upslice` command line: one Typer app, each group of commands in its own module."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from upslice import __version__
from upslice.cli.config import default_map
from upslice.cli.exits import EXIT_CODES

# Each command loads only its side: `upslice upload` need not import the server's modules
# (settings, stores, fsck: a good part of a second at every start), and a server process
# need not hold the client's HTTP stack in memory (httpx and what it pulls in: ~20 MiB).
CLIENT_COMMANDS = ("upload", "download", "status", "ls", "rm")
SERVER_COMMANDS = ("serve", "gc", "fsck")


def plain_arguments(group: TyperGroup) -> None:
    """Typer prints an argument's Python type after its name (`PATH <list[Path]>`); the
    metavars already say what to give."""
    for command in group.commands.values():
        for param in command.params:
            if isinstance(param, TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


class Group(TyperGroup):
    """The root command, with argument help as plain as option help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_arguments(self)


def build(*, client: bool = True, server: bool = True) -> typer.Typer:
    """The Typer app: every command, or one side's (what `main` loads for those)."""
    app = new_app()
    if server:
        from upslice.cli import server as server_commands

        server_commands.register(app)
    if client:
        from upslice.cli import download, tasks, upload

        for command in (upload.upload, download.download, tasks.status, tasks.ls, tasks.rm):
            app.command(epilog=EXIT_CODES)(command)
    if server:
        from upslice.cli import fsck

        fsck.register(app)
    if client and server:
        from upslice.cli import completion

        app.command()(completion.completion)
    return app


def new_app() -> typer.Typer:
    app = typer.Typer(
        name="upslice",
        cls=Group,
        help="Resumable, chunked file uploads: run the server, or upload and manage files.\n\n"
        "Every client option can come from a flag, an UPSLICE_* variable (UPSLICE_SERVER, "
        "UPSLICE_TOKEN) or the config file ~/.config/upslice/config.toml ($UPSLICE_CONFIG).",
        epilog=EXIT_CODES,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    app.callback()(root)
    return app


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"upslice {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=show_version, is_eager=True, help="print the version"
        ),
    ] = False,
) -> None:
    """Resumable, chunked file uploads: run the server, or upload and manage files."""
    ctx.default_map = default_map(getattr(ctx.command, "commands", {}))


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    # httpx imports its own command line (click, rich, pygments: a third of the client's start
    # time) unless that fails to import, which it handles; upslice never runs it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    app = build(client=command not in SERVER_COMMANDS, server=command not in CLIENT_COMMANDS)
    app(prog_name="upslice")


def __getattr__(name: str) -> Any:
    """`upslice.cli.app`: the whole app, built when first asked for (tests, completion)."""
    if name == "app":
        app = globals()["app"] = build()
        return app
    raise AttributeError(f"module 'upslice.cli' has no attribute {name!r}")
