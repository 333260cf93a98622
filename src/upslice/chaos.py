"""Fault injection for front-end developers: chunk requests that fail, stall, or get cut.

Off by default. `--chaos "fail=0.1,delay=0.2,cut=0.05"` gives each chunk request (tasks PUT,
tus PATCH, flow.js-family POST) those probabilities of a 500/503 reply, a pause of up to
`delay-max` seconds, or a connection dropped midway through the body. Nothing is stored from a
failed or cut request, so a correct client always ends byte-identical.

Browsers quietly re-send a request whose connection was cut mid-body, so a cut may never reach
the page's own retry code. Two kinds they cannot hide: `reset` answers the response headers and
then resets the connection before the body; `stall` reads the body and never answers, until the
client gives up (its timeout) and disconnects. Neither stores the chunk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("upslice.chaos")
CHUNK_REQUEST = re.compile(
    r"(^PUT .*/api/task/[^/]+/chunk/\d+$)|(^PATCH .*/files/[^/]+$)|(^POST .*/flow/?$)"
)


@dataclass(frozen=True)
class ChaosConfig:
    fail: float = 0.0
    delay: float = 0.0
    cut: float = 0.0
    reset: float = 0.0
    stall: float = 0.0
    delay_max: float = 2.0
    seed: int | None = None

    @classmethod
    def parse(cls, spec: str) -> ChaosConfig:
        """`fail=0.1,delay=0.2,cut=0.05,delay-max=1.5,seed=7`."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in cls.__dataclass_fields__:
                raise ValueError(f"chaos: unknown setting {item!r} (fail, delay, cut, ...)")
            values[key] = int(raw) if key == "seed" else float(raw)
        config = cls(**values)
        for name in ("fail", "delay", "cut", "reset", "stall"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise ValueError(f"chaos: {name} is a probability between 0 and 1")
        return config

    def describe(self) -> str:
        return (
            f"fail={self.fail:.0%} delay={self.delay:.0%} (up to {self.delay_max}s) "
            f"cut={self.cut:.0%} reset={self.reset:.0%} stall={self.stall:.0%}"
        )


@dataclass
class ChaosKnobs:
    """The chaos settings in force, switchable while the server runs (by the inspector)."""

    config: ChaosConfig


class ChaosMiddleware:
    def __init__(self, app: ASGIApp, config: ChaosConfig | ChaosKnobs) -> None:
        self.app = app
        self.knobs = config if isinstance(config, ChaosKnobs) else ChaosKnobs(config)
        self.random = random.Random(self.knobs.config.seed)

    @property
    def config(self) -> ChaosConfig:
        return self.knobs.config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not CHUNK_REQUEST.match(f"{scope['method']} {scope['path']}"):
            await self.app(scope, receive, send)
            return
        roll = self.random.random()
        fail, cut = self.config.fail, self.config.fail + self.config.cut
        reset = cut + self.config.reset
        stall = reset + self.config.stall
        if roll < fail:
            await self._fail(receive, send)
        elif roll < cut:
            await self._cut(scope, receive)
        elif roll < reset:
            await self._reset(receive, send)
        elif roll < stall:
            await self._stall(receive)
        else:
            if self.random.random() < self.config.delay:
                pause = self.random.uniform(0, self.config.delay_max)
                log.warning("chaos: delaying %s %s by %.2fs", scope["method"], scope["path"], pause)
                await asyncio.sleep(pause)
            await self.app(scope, receive, send)

    async def _fail(self, receive: Receive, send: Send) -> None:
        await _drain(receive, None)
        status = self.random.choice((500, 503))
        log.warning("chaos: failing a chunk request with %d", status)
        body = json.dumps(
            {"error": {"code": "chaos", "message": f"injected failure ({status}), retry"}}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _cut(self, scope: Scope, receive: Receive) -> None:
        length = dict(scope["headers"]).get(b"content-length", b"0")
        keep = int(int(length) * self.random.uniform(0.1, 0.9)) if length.isdigit() else 0
        await _drain(receive, keep)
        log.warning("chaos: cutting the connection after %d bytes of the body", keep)
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None:  # not uvicorn: an unfinished response is the closest thing
            raise ConnectionAbortedError("chaos: connection cut")
        transport.abort()
        await asyncio.sleep(0)

    async def _reset(self, receive: Receive, send: Send) -> None:
        """Headers promising a body, then a reset: a broken reply, not a cut upload."""
        await _drain(receive, None)
        log.warning("chaos: resetting the connection after the response headers")
        headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None:
            raise ConnectionResetError("chaos: connection reset")
        transport.abort()
        await asyncio.sleep(0)

    async def _stall(self, receive: Receive) -> None:
        """Take the whole body, then say nothing until the client hangs up."""
        await _drain(receive, None)
        log.warning("chaos: stalling a chunk request until the client gives up")
        while (await receive())["type"] != "http.disconnect":
            pass


async def _drain(receive: Receive, limit: int | None) -> None:
    """Consume the body (or its first `limit` bytes) without storing it."""
    seen = 0
    while limit is None or seen < limit:
        message: Message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
