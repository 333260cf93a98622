"""Engine and validation errors as `{"error": {"code", "message"}}` JSON with the right status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from upslice.api.allow import allow_header, options_response
from upslice.errors import BodyTimeout, ClientGone, StoreBusy, Unauthorized, UploadError


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **details}}


def problem(error: Any, body: Any) -> dict[str, str]:
    """One validation error as {field, problem}: a field name, or where the JSON broke."""
    if error.get("type") == "json_invalid" and isinstance(body, str | bytes):
        text = body if isinstance(body, str) else body.decode("utf-8", "replace")
        position = int(error["loc"][-1])
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = error.get("ctx", {}).get("error", "malformed")
        return {
            "field": "body",
            "problem": f"invalid JSON at line {line} column {column} ({reason})",
        }
    return {"field": ".".join(str(p) for p in error["loc"] if p != "body"), "problem": error["msg"]}


def connection_headers(exc: UploadError) -> dict[str, str]:
    """A stalled body is left unread: close the connection rather than parse its rest.
    A 401 names the scheme it wants (RFC 9110 section 11.6.1); a busy store says when to come
    back."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="upslice"'}
    if isinstance(exc, StoreBusy):
        return {"Retry-After": str(exc.details.get("retryAfter", 1))}
    return {"Connection": "close"} if isinstance(exc, BodyTimeout) else {}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        if isinstance(exc, ClientGone):  # the engine is done with it: nothing left in flight
            request.app.state.engine.counters["bodies_cut"] += 1
        return JSONResponse(exc.to_json(), status_code=exc.status, headers=connection_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [problem(err, exc.body) for err in exc.errors()]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems)
        return JSONResponse(
            error_body("invalid_input", summary or "invalid request", problems=problems),
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            if request.method == "OPTIONS":
                return options_response(request)
            headers.update(allow_header(request))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)
