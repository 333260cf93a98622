"""`upslice serve`/`gc` options for object storage, and the startup probe of the store."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from upslice.settings import Settings

STORE = "Object storage"

Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="s3://bucket/prefix keeps the bytes in object storage; default: files in the "
        "data dir [env UPSLICE_STORE]",
        rich_help_panel=STORE,
    ),
]
S3Endpoint = Annotated[
    str | None,
    typer.Option(
        "--s3-endpoint",
        metavar="URL",
        help="S3 endpoint URL (MinIO, R2, ...); default: AWS [env UPSLICE_S3_ENDPOINT]",
        rich_help_panel=STORE,
    ),
]
S3Region = Annotated[
    str | None,
    typer.Option(
        "--s3-region",
        metavar="REGION",
        help="S3 region; default: the AWS chain's [env UPSLICE_S3_REGION]",
        rich_help_panel=STORE,
    ),
]
S3PathStyle = Annotated[
    bool | None,
    typer.Option(
        "--s3-path-style/--no-s3-path-style",
        help="path-style addressing (MinIO) [default: off; env UPSLICE_S3_PATH_STYLE]",
        rich_help_panel=STORE,
    ),
]
S3MaxAttempts = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help="S3: tries per request, with backoff, before a 503 with Retry-After "
        "[default: 6; env UPSLICE_S3_MAX_ATTEMPTS]",
        rich_help_panel=STORE,
    ),
]
S3HashWaitSeconds = Annotated[
    float | None,
    typer.Option(
        metavar="SECONDS",
        help="S3: how long a chunk's reply waits for the whole-file hash to reach it, then its "
        "bytes are kept aside for the hash [default: 15; env UPSLICE_S3_HASH_WAIT_SECONDS]",
        rich_help_panel=STORE,
    ),
]


def check_data_store(settings: Settings) -> None:
    """A store that cannot work (missing bucket, bad URL) stops here with one clear line."""
    if settings.store is None:  # files under data_dir: the server creates what it needs
        return
    from upslice.stores.s3_client import StoreUnavailable
    from upslice.wiring import build_data_store

    async def probe() -> None:
        store = build_data_store(settings)
        try:
            await store.open()
        finally:
            await store.close()

    try:
        asyncio.run(probe())
    except (StoreUnavailable, ValueError) as exc:
        typer.echo(f"upslice: {exc}", err=True)
        raise typer.Exit(2) from None
