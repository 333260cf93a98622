"""`Allow` from every route that matches a path, not only the first one.

Starlette answers a wrong method with the methods of the first route whose path matches, so
`/api/task/{id}` (GET and DELETE, two routes) said `Allow: GET`. An OPTIONS request that no
route handles is answered here with 204 and the full list, never with 405.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

METHODS = ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route fully matches at this request's path (OPTIONS always).

    Asks the routes themselves (`BaseRoute.matches`), method by method, so routers included
    into others are covered without knowing how the framework nests them.
    """
    routes = request.app.router.routes
    allowed = ["OPTIONS"]
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def allow_header(request: Request) -> dict[str, str]:
    return {"Allow": ", ".join(allowed_methods(request))}


def options_response(request: Request) -> Response:
    """What an OPTIONS without its own route gets (CORS preflights are the CORS layer's)."""
    return Response(status_code=204, headers=allow_header(request))
