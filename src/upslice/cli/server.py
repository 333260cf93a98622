"""`upslice serve` and `upslice gc`: every flag overrides its UPSLICE_* variable."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from upslice.cli import access_options, store_options
from upslice.cli.exits import USAGE, fail
from upslice.cli.serving import run
from upslice.cli.store_options import check_data_store
from upslice.logs import configure_logging
from upslice.settings import Settings
from upslice.sizes import human


def setting_help(name: str, text: str) -> str:
    """`text` with the setting's default and its environment variable, for --help."""
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    if name.endswith("_size") and isinstance(default, int):
        shown = human(default).replace(".0 ", " ").replace(" ", "")
    elif isinstance(default, bool):
        shown = "on" if default else "off"
    elif isinstance(default, list):
        shown = ", ".join(map(str, default)) or "none"
    else:
        shown = "none" if default is None else str(default)
    if name == "workers":
        shown = "the CPUs, at most 8"
    return f"{text} [default: {shown}; env UPSLICE_{name.upper()}]"


def option(name: str, text: str, metavar: str | None, *decls: str, **kwargs: Any) -> Any:
    """A serve/gc/fsck flag for setting `name`: None unless given, so the env var applies."""
    return typer.Option(
        *decls, metavar=metavar, help=setting_help(name, text), show_default=False, **kwargs
    )


DataDir = Annotated[
    Path | None,
    option("data_dir", "files and the SQLite database", "DIR", "--data-dir"),
]
DatabaseUrl = Annotated[
    str | None,
    option(
        "database_url",
        "metadata store (postgresql://...); none means SQLite in the data dir",
        "URL",
        "--database-url",
    ),
]
GraceSeconds = Annotated[
    float | None,
    option(
        "orphan_grace_seconds",
        "bytes without a record younger than this may be a create in flight: leave them alone",
        "SECONDS",
        "--grace-seconds",
        min=0,
    ),
]
Size = Annotated[str | None, "a size flag, checked by Settings"]


def settings_from(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top; a bad value
    ends the command with one line naming the flag and its variable (exit 2)."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else "settings"
        flag = FLAG_OF.get(name, "--" + name.replace("_", "-"))
        given = problem.get("input")
        got = "" if isinstance(given, dict) else f" (got {given!r})"
        message = str(problem["msg"]).removeprefix("Value error, ")
        fail(USAGE, f"{flag} / UPSLICE_{name.upper()}: {message}{got}")


FLAG_OF = {"cors_origins": "--cors-origin", "orphan_grace_seconds": "--grace-seconds"}


def grace_of(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.orphan_grace_seconds)


def serve(
    host: Annotated[
        str | None,
        option("host", "address to bind; 0.0.0.0 for every interface", "ADDRESS"),
    ] = None,
    port: Annotated[
        int | None, option("port", "port to listen on; 0 picks a free one and logs it", "PORT")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    min_chunk_size: Annotated[Size, option("min_chunk_size", "smallest chunk size", "SIZE")] = None,
    default_chunk_size: Annotated[
        Size, option("default_chunk_size", "chunk size when the client proposes none", "SIZE")
    ] = None,
    max_chunk_size: Annotated[Size, option("max_chunk_size", "largest chunk size", "SIZE")] = None,
    max_file_size: Annotated[Size, option("max_file_size", "largest file", "SIZE")] = None,
    expiry_seconds: Annotated[
        float | None,
        option("expiry_seconds", "unfinished uploads expire after this", "SECONDS"),
    ] = None,
    sweep_interval_seconds: Annotated[
        float | None, option("sweep_interval_seconds", "how often expiry runs", "SECONDS")
    ] = None,
    lease_seconds: Annotated[
        float | None,
        option(
            "lease_seconds", "a dead worker or node blocks an upload at most this long", "SECONDS"
        ),
    ] = None,
    hash_undeclared: Annotated[
        bool | None,
        option(
            "hash_undeclared",
            "also hash tus/IETF uploads that declare no hash or checksum",
            None,
            "--hash-undeclared/--no-hash-undeclared",
        ),
    ] = None,
    fsync: Annotated[
        bool | None,
        option("fsync", "fsync each chunk before acknowledging it", None, "--fsync/--no-fsync"),
    ] = None,
    log_level: Annotated[
        str | None, option("log_level", "debug, info, warning or error", "LEVEL")
    ] = None,
    demo: Annotated[
        bool | None, option("demo", "the demo page at /", None, "--demo/--no-demo")
    ] = None,
    chaos: Annotated[
        str | None,
        option(
            "chaos",
            'fault injection for testing clients, e.g. "fail=0.1,delay=0.2,cut=0.05" '
            "(probabilities per chunk request; also reset=P: headers then a reset, stall=P: no "
            "reply until the client times out; delay-max=SECONDS, seed=N)",
            "SPEC",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        option(
            "cors_origins",
            "browser origin allowed to call the server, repeatable: an exact origin "
            "(https://app.example), * (any but null) or null (file:// pages). While bound to "
            "loopback, every http(s)://localhost|127.0.0.1|[::1]:PORT origin is allowed too",
            "ORIGIN",
            "--cors-origin",
        ),
    ] = None,
    max_concat_parts: Annotated[
        int | None,
        option("max_concat_parts", "partial uploads one tus final upload may join", "N"),
    ] = None,
    header_timeout: Annotated[
        float | None,
        option("header_timeout", "seconds to receive a request's headers, then 408", "SECONDS"),
    ] = None,
    keepalive_timeout: Annotated[
        int | None,
        option("keepalive_timeout", "idle seconds before a keep-alive connection closes", "N"),
    ] = None,
    body_timeout: Annotated[
        float | None,
        option("body_timeout", "a body that sends nothing this long ends with 408", "SECONDS"),
    ] = None,
    max_connections: Annotated[
        int | None, option("max_connections", "connections served at once; beyond, 503", "N")
    ] = None,
    shutdown_timeout: Annotated[
        int | None,
        option(
            "shutdown_timeout",
            "on SIGTERM, seconds in-flight requests may still take before they are cut",
            "SECONDS",
            min=0,
        ),
    ] = None,
    workers: Annotated[
        int | None, option("workers", "worker processes sharing the port", "N")
    ] = None,
    ready_file: Annotated[
        Path | None,
        option(
            "ready_file",
            "once listening, write {url, host, port, pid} as JSON here; with --port 0 this is "
            "how a script learns the port",
            "PATH",
        ),
    ] = None,
    form_max_size: Annotated[
        Size,
        option(
            "form_max_size",
            "largest form upload (POST /api/upload, all files together); beyond, 413 and "
            "nothing kept",
            "SIZE",
        ),
    ] = None,
    tus_keep_partials: Annotated[
        bool | None,
        option(
            "tus_keep_partials",
            "keep tus partial uploads after a final upload joined them (off: remove them unless "
            "another final still waits for them)",
            None,
            "--tus-keep-partials/--no-tus-keep-partials",
        ),
    ] = None,
    metrics_token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token GET /metrics requires; without one /metrics is served only "
            "while bound to loopback [env UPSLICE_METRICS_TOKEN]"
        ),
    ] = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            help="serve /metrics on this HOST:PORT instead of the main port "
            "[env UPSLICE_METRICS_LISTEN]"
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            help="text, or json: one object per line; both name the request and upload id "
            "[env UPSLICE_LOG_FORMAT]"
        ),
    ] = None,
    inspector: Annotated[
        str | None,
        typer.Option(
            help="live inspector at /inspect: auto (with the demo, on loopback only), on "
            "(elsewhere needs --inspector-token) or off [env UPSLICE_INSPECTOR]"
        ),
    ] = None,
    inspector_token: Annotated[
        str | None,
        typer.Option(
            help="token the inspector requires, as /inspect?token=... [env UPSLICE_INSPECTOR_TOKEN]"
        ),
    ] = None,
    hooks_url: access_options.HooksUrl = None,
    hooks_secret: access_options.HooksSecret = None,
    hooks_dir: access_options.HooksDir = None,
    hooks_events: access_options.HooksEvents = None,
    hooks_timeout: access_options.HooksTimeout = None,
    auth: access_options.AuthMode = None,
    jwt_secret: access_options.JwtSecret = None,
    jwks_url: access_options.JwksUrl = None,
    jwt_audience: access_options.JwtAudience = None,
    jwt_issuer: access_options.JwtIssuer = None,
    url_secret: access_options.UrlSecret = None,
    download_url_seconds: access_options.DownloadUrlSeconds = None,
    store: store_options.Store = None,
    s3_endpoint: store_options.S3Endpoint = None,
    s3_region: store_options.S3Region = None,
    s3_path_style: store_options.S3PathStyle = None,
    s3_max_attempts: store_options.S3MaxAttempts = None,
    s3_hash_wait_seconds: store_options.S3HashWaitSeconds = None,
) -> None:
    """Run the upload server (default http://127.0.0.1:38080, data in ./upslice-data).

    Every flag overrides its UPSLICE_* variable. Sizes take 1048576, 512KiB, 5M or 5MB (all
    binary multiples).
    """
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
        lease_seconds=lease_seconds,
        fsync=fsync,
        hash_undeclared=hash_undeclared,
        log_level=log_level,
        demo=demo,
        cors_origins=cors_origin or None,
        chaos=chaos,
        max_concat_parts=max_concat_parts,
        header_timeout=header_timeout,
        keepalive_timeout=keepalive_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        shutdown_timeout=shutdown_timeout,
        workers=workers,
        ready_file=ready_file,
        form_max_size=form_max_size,
        tus_keep_partials=tus_keep_partials,
        metrics_token=metrics_token,
        metrics_listen=metrics_listen,
        log_format=log_format,
        inspector=inspector,
        inspector_token=inspector_token,
        hooks_url=hooks_url,
        hooks_secret=hooks_secret,
        hooks_dir=hooks_dir,
        hooks_events=hooks_events,
        hooks_timeout=hooks_timeout,
        auth=auth,
        jwt_secret=jwt_secret,
        jwks_url=jwks_url,
        jwt_audience=jwt_audience,
        jwt_issuer=jwt_issuer,
        url_secret=url_secret,
        download_url_seconds=download_url_seconds,
        store=store,
        s3_endpoint=s3_endpoint,
        s3_region=s3_region,
        s3_path_style=s3_path_style,
        s3_hash_wait_seconds=s3_hash_wait_seconds,
        s3_max_attempts=s3_max_attempts,
    )
    access_options.check(settings)
    configure_logging(settings.log_level, settings.log_format)
    from upslice.api.cors import is_loopback
    from upslice.app import inspector_enabled

    try:  # before any worker starts: a worker that cannot build the app only restarts
        inspector_enabled(settings, is_loopback(settings.host))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--inspector") from None
    check_data_store(settings)
    run(settings)


def gc(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    grace_seconds: GraceSeconds = None,
    store: store_options.Store = None,
    s3_endpoint: store_options.S3Endpoint = None,
    s3_region: store_options.S3Region = None,
    s3_path_style: store_options.S3PathStyle = None,
) -> None:
    """Remove expired unfinished uploads and orphan bytes once, then exit.

    The server expires uploads itself; orphan bytes (left by a crash) only go here or in
    `upslice fsck --repair`.
    """
    from upslice.fsck import Finding, collect_orphans
    from upslice.wiring import build_engine

    settings = settings_from(
        data_dir=data_dir,
        database_url=database_url,
        orphan_grace_seconds=grace_seconds,
        store=store,
        s3_endpoint=s3_endpoint,
        s3_region=s3_region,
        s3_path_style=s3_path_style,
    )
    if not settings.data_dir.is_dir():
        fail(
            USAGE,
            f"no data directory at {settings.data_dir.resolve()}: give the server's "
            "--data-dir (or UPSLICE_DATA_DIR); gc never creates one",
        )
    configure_logging(settings.log_level)

    async def run() -> tuple[int, list[Finding]]:
        engine = build_engine(settings)
        await engine.open()
        try:
            expired = await engine.sweep()
            return expired, await collect_orphans(
                engine.data, engine.meta, grace=grace_of(settings)
            )
        finally:
            await engine.close()

    removed, orphans = asyncio.run(run())
    typer.echo(f"removed {removed} expired upload(s)")
    freed = sum(f.item.size for f in orphans if f.item)
    typer.echo(f"removed {len(orphans)} orphan item(s) ({freed} bytes)")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(gc)
