"""`upslice serve` options for hooks and auth (kept apart: serve has many options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from upslice.settings import Settings

HOOKS = "Hooks"
AUTH = "Auth"

HooksUrl = Annotated[
    str | None,
    typer.Option(
        help="POST each hook event as JSON here [env UPSLICE_HOOKS_URL]", rich_help_panel=HOOKS
    ),
]
HooksSecret = Annotated[
    str | None,
    typer.Option(
        help="sign hook requests (Upslice-Signature: HMAC-SHA256) [env UPSLICE_HOOKS_SECRET]",
        rich_help_panel=HOOKS,
    ),
]
HooksDir = Annotated[
    Path | None,
    typer.Option(
        help="run the executable named after each event (pre-create, post-finish, ...) with "
        "the event's JSON on stdin [env UPSLICE_HOOKS_DIR]",
        rich_help_panel=HOOKS,
    ),
]
HooksEvents = Annotated[
    str | None,
    typer.Option(
        help="comma-separated events to send (pre-access, pre-create, post-create, "
        "post-receive, pre-finish, post-finish, pre-terminate, post-terminate, post-expire); "
        "default: all but pre-access [env UPSLICE_HOOKS_EVENTS]",
        rich_help_panel=HOOKS,
    ),
]
HooksTimeout = Annotated[
    float | None,
    typer.Option(
        help="seconds a hook may take; a blocking hook then refuses with 503 (default 5) "
        "[env UPSLICE_HOOKS_TIMEOUT]",
        rich_help_panel=HOOKS,
    ),
]
AuthMode = Annotated[
    str | None,
    typer.Option(
        "--auth",
        help="none | jwt (Authorization: Bearer, sub = owner) | hook (pre-access decides) "
        "[env UPSLICE_AUTH]",
        rich_help_panel=AUTH,
    ),
]
JwtSecret = Annotated[
    str | None,
    typer.Option(help="HS256 key for --auth jwt [env UPSLICE_JWT_SECRET]", rich_help_panel=AUTH),
]
JwksUrl = Annotated[
    str | None,
    typer.Option(
        help="JWKS URL with the RS256/ES256 keys for --auth jwt [env UPSLICE_JWKS_URL]",
        rich_help_panel=AUTH,
    ),
]
JwtAudience = Annotated[
    str | None,
    typer.Option(help="required aud claim [env UPSLICE_JWT_AUDIENCE]", rich_help_panel=AUTH),
]
JwtIssuer = Annotated[
    str | None,
    typer.Option(help="required iss claim [env UPSLICE_JWT_ISSUER]", rich_help_panel=AUTH),
]
UrlSecret = Annotated[
    str | None,
    typer.Option(
        help="key for signed download URLs; default: derived from --jwt-secret, or made once "
        "in the data dir (set it when several nodes serve) [env UPSLICE_URL_SECRET]",
        rich_help_panel=AUTH,
    ),
]
DownloadUrlSeconds = Annotated[
    float | None,
    typer.Option(
        help="how long a signed download URL works (default 600) "
        "[env UPSLICE_DOWNLOAD_URL_SECONDS]",
        rich_help_panel=AUTH,
    ),
]


def check(settings: Settings) -> None:
    """Refuse a hooks/auth combination that cannot work before any worker starts."""
    from upslice.hooks.wiring import hooks_from, selected_events

    try:
        hooks = hooks_from(settings, None)
        if hooks is not None:
            selected_events(settings, hooks)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
