"""`upslice serve` and `upslice gc`: every flag overrides its UPSLICE_* variable."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from upslice.settings import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="files and the SQLite database [env UPSLICE_DATA_DIR]"),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="metadata store URL [env UPSLICE_DATABASE_URL]"),
]


def settings_from(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


def serve(
    host: Annotated[str | None, typer.Option(help="address [env UPSLICE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [env UPSLICE_PORT]")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    min_chunk_size: Annotated[
        int | None, typer.Option(help="smallest chunk size in bytes [env UPSLICE_MIN_CHUNK_SIZE]")
    ] = None,
    default_chunk_size: Annotated[
        int | None,
        typer.Option(
            help="chunk size when the client proposes none [env UPSLICE_DEFAULT_CHUNK_SIZE]"
        ),
    ] = None,
    max_chunk_size: Annotated[
        int | None, typer.Option(help="largest chunk size in bytes [env UPSLICE_MAX_CHUNK_SIZE]")
    ] = None,
    max_file_size: Annotated[
        int | None, typer.Option(help="largest file in bytes [env UPSLICE_MAX_FILE_SIZE]")
    ] = None,
    expiry_seconds: Annotated[
        float | None,
        typer.Option(help="unfinished uploads expire after this [env UPSLICE_EXPIRY_SECONDS]"),
    ] = None,
    sweep_interval_seconds: Annotated[
        float | None,
        typer.Option(help="how often expiry runs [env UPSLICE_SWEEP_INTERVAL_SECONDS]"),
    ] = None,
    fsync: Annotated[
        bool | None,
        typer.Option(
            "--fsync/--no-fsync", help="fsync each chunk before acking [env UPSLICE_FSYNC]"
        ),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug|info|warning|error [env UPSLICE_LOG_LEVEL]")
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option("--demo/--no-demo", help="demo page at / [env UPSLICE_DEMO]"),
    ] = None,
    chaos: Annotated[
        str | None,
        typer.Option(
            help='fault injection for testing clients, e.g. "fail=0.1,delay=0.2,cut=0.05" '
            "(probabilities per chunk request; delay-max=SECONDS, seed=N) [env UPSLICE_CHAOS]"
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="allowed browser origin, repeatable [env UPSLICE_CORS_ORIGINS]"),
    ] = None,
) -> None:
    """Run the upload server (default http://127.0.0.1:38080, data in ./upslice-data)."""
    import uvicorn

    from upslice.app import create_app

    settings = settings_from(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        min_chunk_size=min_chunk_size,
        default_chunk_size=default_chunk_size,
        max_chunk_size=max_chunk_size,
        max_file_size=max_file_size,
        expiry_seconds=expiry_seconds,
        sweep_interval_seconds=sweep_interval_seconds,
        fsync=fsync,
        log_level=log_level,
        demo=demo,
        cors_origins=cors_origin or None,
        chaos=chaos,
    )
    configure_logging(settings.log_level)
    logging.getLogger("upslice").info(
        "serving on http://%s:%d, data in %s", settings.host, settings.port, settings.data_dir
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


def gc(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Remove expired unfinished uploads once, then exit (the server also does this itself)."""
    from upslice.wiring import build_engine

    settings = settings_from(data_dir=data_dir, database_url=database_url)
    configure_logging(settings.log_level)

    async def run() -> int:
        engine = build_engine(settings)
        await engine.open()
        try:
            return await engine.sweep()
        finally:
            await engine.close()

    removed = asyncio.run(run())
    typer.echo(f"removed {removed} expired upload(s)")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(gc)
