"""What every client command shares: its options, exit codes, and turning failures into them."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn

import typer

from upslice.cli.exits import (
    ERROR,
    INTEGRITY,
    INTERRUPTED,
    NOT_FOUND,
    UNREACHABLE,
    USAGE,
    fail,
)
from upslice.client import AsyncClient, RetryPolicy
from upslice.client.api import checked_server
from upslice.client.errors import (
    IntegrityError,
    InvalidServerURL,
    NotFound,
    NotUpsliceServer,
    RetriesExhausted,
    TransportError,
    UpsliceError,
)

Server = Annotated[
    str,
    typer.Option(
        "--server",
        "-s",
        envvar="UPSLICE_SERVER",
        metavar="URL",
        help="server base URL, with http:// or https://",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="UPSLICE_TOKEN",
        metavar="TOKEN",
        help="sent as 'Authorization: Bearer TOKEN'",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
Headers = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        metavar="'NAME: VALUE'",
        help="extra request header, repeatable",
        show_default=False,
    ),
]
Timeout = Annotated[
    float, typer.Option(metavar="SECONDS", help="seconds to wait for the server per request")
]
Retries = Annotated[
    int, typer.Option(min=1, metavar="N", help="attempts per request before giving up")
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="no progress bars, no summary; results only")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log every HTTP request on stderr")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="no progress bars")]
Transfers = Annotated[
    int, typer.Option(min=1, max=64, metavar="N", help="files transferred in parallel")
]


class Ambiguous(UpsliceError):
    """A name matches several tasks: the user must give an id."""


class Connection:
    """How to reach the server, from the options every client command takes."""

    def __init__(
        self,
        server: str,
        token: str | None,
        headers: list[str] | None,
        timeout: float,
        retries: int,
        verbose: bool = False,
    ) -> None:
        try:
            self.server = checked_server(server)
        except InvalidServerURL as exc:
            fail(USAGE, f"--server / UPSLICE_SERVER: {exc}")
        self.token = token
        self.headers = parse_headers(headers)
        self.timeout = timeout
        self.retries = retries
        if verbose:
            logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
            logging.getLogger("httpx").setLevel(logging.INFO)

    def client(self) -> AsyncClient:
        return AsyncClient(
            self.server,
            headers=self.headers,
            timeout=self.timeout,
            retry=RetryPolicy(attempts=self.retries),
            token=self.token,
        )

    def run(self, work: Callable[[AsyncClient], Awaitable[int]]) -> NoReturn:
        """Run `work` with a client; turn failures and Ctrl-C into the documented exit codes."""

        async def main() -> int:
            async with self.client() as client:
                return await work(client)

        try:
            code = asyncio.run(main())
        except KeyboardInterrupt:
            fail(INTERRUPTED, "interrupted; run the same command again to resume")
        except NotFound as exc:
            fail(NOT_FOUND, exc.message)
        except IntegrityError as exc:
            fail(INTEGRITY, str(exc))
        except RetriesExhausted as exc:
            fail(
                UNREACHABLE,
                f"cannot reach the upslice server at {self.server} "
                f"(gave up after {exc.attempts} attempts): {exc.last}",
            )
        except TransportError as exc:
            fail(UNREACHABLE, f"cannot reach the upslice server at {self.server}: {exc}")
        except NotUpsliceServer as exc:
            fail(UNREACHABLE, str(exc))
        except Ambiguous as exc:
            fail(USAGE, str(exc))
        except UpsliceError as exc:
            fail(ERROR, str(exc))
        except OSError as exc:
            fail(ERROR, str(exc))
        raise typer.Exit(code)


def parse_headers(values: list[str] | None) -> dict[str, str]:
    headers = {}
    for value in values or []:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            fail(USAGE, f"--header: {value!r} is not 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
