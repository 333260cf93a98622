"""A hook receiver run as its own process: records every event it gets, answers by rule.

Each request is appended to `events.jsonl` in its directory (headers and JSON body), so what
arrived survives a restart. Rules, keyed on the upload's file name so tests never collide:
`refuse-<event>` answers 403, `fail-<event>` 500, `slow-<event>` sleeps past any test's
hook timeout; a pre-create for `rename-me` renames the file and sets metadata. pre-access
follows the request's `x-hook-user` (names the owner) and `x-hook-deny` (401) headers.
It also serves `jwks.json` from its directory, as an identity provider would.

Usage: python receiver.py DIR PORT (PORT 0 picks one; the port is written to DIR/port).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HERE = Path(sys.argv[1])


async def hook(request: Request) -> Response:
    body = await request.body()
    event: dict[str, Any] = json.loads(body)
    record = {"headers": dict(request.headers), "body": body.decode(), "event": event}
    with open(HERE / "events.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")
    name = event["type"]
    file_name = (event.get("upload") or {}).get("fileName", "")
    if f"slow-{name}" in file_name:
        await asyncio.sleep(5)
    if f"refuse-{name}" in file_name:
        return JSONResponse({"message": f"no {name} for {file_name}"}, status_code=403)
    if f"fail-{name}" in file_name:
        return Response("receiver broke", status_code=500)
    if name == "pre-create" and "rename-me" in file_name:
        return JSONResponse({"fileName": "renamed.bin", "metadata": {"by": "hook"}})
    if name == "pre-access":
        headers = event["request"]["headers"]
        if "x-hook-deny" in headers:
            return JSONResponse({"message": "denied by the app"}, status_code=401)
        if "x-hook-user" in headers:
            return JSONResponse({"owner": headers["x-hook-user"]})
    return Response(status_code=204)


async def jwks(request: Request) -> Response:
    return Response((HERE / "jwks.json").read_bytes(), media_type="application/json")


app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/jwks.json", jwks)])

if __name__ == "__main__":
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[2])))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    (HERE / "port.tmp").write_text(str(sock.getsockname()[1]))
    (HERE / "port.tmp").rename(HERE / "port")
    server.run(sockets=[sock])
