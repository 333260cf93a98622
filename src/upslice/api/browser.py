"""The browser client library at /static (always) and the demo page at / (unless --no-demo)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def mount_browser(app: FastAPI, *, demo: bool) -> None:
    """`/static/upslice.js`, its hash worker and vendored hash-wasm; `/` serves the demo."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if demo:

        @app.get("/", include_in_schema=False)
        async def demo_page() -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
