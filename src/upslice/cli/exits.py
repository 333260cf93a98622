"""Exit codes and the one way every command fails with one: shared by the client and the
server commands, so that neither side has to import the other's modules."""

from __future__ import annotations

from typing import NoReturn

import typer

OK, ERROR, USAGE, NOT_FOUND, INTEGRITY, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
EXIT_CODES = """\b
Exit codes:
    0 done
    1 error: the server refused, or a local file problem
    2 usage: a bad flag, a server URL without http://, an ambiguous name
    3 no such task (id or name)
    4 integrity failure: a hash or checksum mismatch
    5 server unreachable, or not an upslice server at that URL
  130 interrupted: run the same command again to resume"""


def fail(code: int, message: str) -> NoReturn:
    typer.echo(f"upslice: {message}", err=True)
    raise typer.Exit(code)
