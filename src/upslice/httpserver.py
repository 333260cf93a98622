"""uvicorn with the limits a public upload server needs: a deadline for request headers, an
idle keep-alive timeout and a cap on concurrent connections.

uvicorn has a keep-alive timeout, but it is armed only after a response: a connection that
never finishes its first request's headers (slowloris) stays open forever. The protocol here
gives every request a deadline from its first byte (or from the connection's opening) to the
end of its headers; past it the client gets 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from asyncio import TimerHandle
from typing import TYPE_CHECKING, Any, cast

import httptools
import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from upslice.settings import Settings

if TYPE_CHECKING:
    from uvicorn._types import ASGIReceiveEvent, HTTPRequestEvent

log = logging.getLogger("upslice.server")
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)
TIMEOUT_BODY = b'{"error":{"code":"header_timeout","message":"request headers took too long"}}'
TRAILERS = "upslice.trailers"  # scope key: the request's trailer fields (upslice.api.trailers)
RAW_BODY_FROM = 64 * 1024  # a declared body this long bypasses the parser (see data_received)


class KeepBodyCycle(RequestResponseCycle):
    """uvicorn's request cycle, except that body bytes received before a disconnect are still
    handed to the app, and only then `http.disconnect`.

    uvicorn answers `receive()` with `http.disconnect` as soon as the connection is gone, and
    drops the body it had buffered. A client that half-closes (FIN) right after sending part
    of a body loses all of it: everything that arrived since the app's last `receive()`, which
    for a small creation POST is the whole body. Those bytes were received; an upload server
    must keep them so that the client can resume after them.

    The body also arrives without uvicorn's two copies: it appends each piece to a bytearray
    and copies that to bytes for the app; here the pieces received (bytes already) are kept
    in a list and handed to the app one per `receive()`, as they are. On a tus PATCH those
    copies were a tenth of the loop.
    """

    pieces: list[bytes]
    buffered: int

    def take(self, piece: bytes) -> int:
        """Keep a body piece; returns how many bytes wait for the app."""
        self.pieces.append(piece)
        self.buffered += len(piece)
        return self.buffered

    async def receive(self) -> ASGIReceiveEvent:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            if not self.pieces:
                await self.message_event.wait()
            self.message_event.clear()
        if self.response_complete or (self.disconnected and not self.pieces):
            return {"type": "http.disconnect"}
        if not self.pieces:  # the body ended with the pieces already handed over
            return {"type": "http.request", "body": b"", "more_body": self.more_body}
        piece = self.pieces.pop(0)  # one at a time: joining them would copy them all
        self.buffered -= len(piece)
        message: HTTPRequestEvent = {
            "type": "http.request",
            "body": piece,
            "more_body": self.more_body or bool(self.pieces),  # True after a cut too
        }
        return message


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """httptools' protocol, with a deadline on receiving each request's headers, and bodies
    of a declared length taken from the socket as they come (see `data_received`)."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: TimerHandle | None = None
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._body_left = 0  # bytes of a Content-Length body still to come

    def data_received(self, data: bytes) -> None:
        """Once a request's headers are parsed and its body has a Content-Length, the bytes
        that follow are body, and up to that length they go to the app as received.

        httptools would hand each piece over as a copy of itself: one more copy of every
        uploaded byte. After the body, a fresh parser takes the bytes that follow (the old
        one still counts on the body it never saw)."""
        if not self._body_left:
            super().data_received(data)
            return
        self._unset_keepalive_if_required()
        if len(data) <= self._body_left:
            body, rest = data, b""
        else:
            body, rest = data[: self._body_left], data[self._body_left :]
        self.on_body(body)  # counts it off _body_left
        if self._body_left:
            return
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn does
        self.on_message_complete()
        if rest:
            super().data_received(rest)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a client that connects and sends nothing gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._trailers = None
        self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        """Fields after the body (chunked trailers) are kept apart from the headers, where
        uvicorn would append them, and handed to the app in the scope (`upslice.api.trailers`)."""
        if self._trailers is None:
            super().on_header(name, value)
        else:
            self._trailers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._disarm()
        self._trailers = []
        self.scope[TRAILERS] = self._trailers  # type: ignore[literal-required]
        super().on_headers_complete()
        if self.cycle is not None:  # created just now; its task has not run yet
            self.cycle.__class__ = KeepBodyCycle
            cycle = cast(KeepBodyCycle, self.cycle)
            cycle.pieces, cycle.buffered = [], 0
            if not self.parser.should_upgrade():
                self._body_left = _declared_length(self.headers)

    def on_body(self, body: bytes) -> None:
        """uvicorn's, with the piece kept as it is (see KeepBodyCycle)."""
        self._body_left = max(0, self._body_left - len(body))
        cycle = cast(KeepBodyCycle, self.cycle)
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        if cycle.take(body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._body_left = 0
        super().on_message_complete()

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        log.info("closing a connection whose request headers took over %ss", self.header_timeout)
        if self.cycle is None or self.cycle.response_complete:  # nothing else being written
            self.transport.write(TIMEOUT_RESPONSE % (len(TIMEOUT_BODY), TIMEOUT_BODY))
        self.transport.close()


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The Content-Length of a body worth taking past the parser; 0 for any other: short,
    chunked, absent or malformed (the parser then answers what is wrong with it)."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
        return 0
    if any(name == b"transfer-encoding" for name, _ in headers):
        return 0
    length = int(lengths[0])
    return length if length >= RAW_BODY_FROM else 0


def protocol_for(settings: Settings) -> type[HeaderDeadlineProtocol]:
    """uvicorn builds one protocol per connection from a class: give it the settings' deadline."""
    return type(
        "HeaderDeadlineProtocol",
        (HeaderDeadlineProtocol,),
        {"header_timeout": settings.header_timeout},
    )


class WorkerHeaderDeadlineProtocol(HeaderDeadlineProtocol):
    """The protocol as uvicorn workers load it by name: a class made at run time cannot be
    handed to a spawned process, so each worker reads the deadline from its settings (the
    supervisor exported them as `UPSLICE_*` variables)."""

    @property
    def header_timeout(self) -> float:  # type: ignore[override]
        return _worker_header_timeout()


@functools.cache
def _worker_header_timeout() -> float:
    return Settings().header_timeout


def config_for(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for `app` (an ASGI app, or a factory's import string when
    several workers each build their own) with the settings' address and limits."""
    workers = settings.workers
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # our handler formats uvicorn's lines too (text or JSON, with ids)
        access_log=False,  # upslice.access writes one line per request, with its id
        timeout_graceful_shutdown=settings.shutdown_timeout,
        http=protocol_for(settings) if workers == 1 else f"{__name__}:WorkerHeaderDeadlineProtocol",
        timeout_keep_alive=settings.keepalive_timeout,
        limit_concurrency=settings.max_connections,
        timeout_worker_healthcheck=30,  # a worker still importing on a busy host is not dead
    )
