"""multipart/form-data as a sequence of parts, each streamed as the push parser finds it.

The tasks API needs one field (`bodies.multipart_field`); the flow.js family and form uploads
need the text fields that come before a file, then the file itself as a stream, then maybe
more. Nothing here buffers a file: at most one received piece of the body waits in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from upslice.api.bodies import raw_body
from upslice.errors import InvalidInput

MAX_TEXT_FIELD = 64 * 1024  # a text field longer than this is not a form field but a file
Event = tuple[str, bytes]  # ("begin" | "header" | "data" | "end", payload)


@dataclass
class Part:
    """One part: its Content-Disposition name and filename, its type, and its bytes."""

    name: str
    filename: str | None
    content_type: str
    reader: MultipartReader = field(repr=False)
    consumed: bool = False
    ended: bool = False  # its closing boundary arrived: the part is whole

    async def stream(self) -> AsyncIterator[bytes]:
        """The part's bytes as they arrive; ends at the part's boundary."""
        self.consumed = True
        while (event := await self.reader.next_event()) is not None and event[0] == "data":
            yield event[1]
        self.ended = event is not None and event[0] == "end"

    async def text(self, limit: int = MAX_TEXT_FIELD) -> str:
        data = bytearray()
        async for piece in self.stream():
            data.extend(piece)
            if len(data) > limit:
                raise InvalidInput(f"form field {self.name!r} is longer than {limit} bytes")
        return data.decode("utf-8", "replace")


class MultipartReader:
    """Pulls the request body through python-multipart's push parser, one event at a time."""

    def __init__(self, request: Request) -> None:
        _, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidInput("multipart/form-data without a boundary")
        self.body = raw_body(request)
        self.events: deque[Event] = deque()
        self.finished = False
        self.current: Part | None = None
        header = [bytearray(), bytearray()]

        def on_header_end() -> None:
            self.events.append(("header", bytes(header[0]) + b"\0" + bytes(header[1])))
            header[0].clear()
            header[1].clear()

        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self.events.append(("begin", b"")),
                "on_header_field": lambda d, s, e: header[0].extend(d[s:e]),
                "on_header_value": lambda d, s, e: header[1].extend(d[s:e]),
                "on_header_end": on_header_end,
                "on_part_data": lambda d, s, e: self.events.append(("data", d[s:e])),
                "on_part_end": lambda: self.events.append(("end", b"")),
            },
        )

    async def next_event(self) -> Event | None:
        """The next parser event, reading more of the body when none is waiting."""
        while not self.events:
            if self.finished:
                return None
            try:
                piece = await anext(self.body)
            except StopAsyncIteration:
                self.finished = True
                self._feed(None)
                continue
            self._feed(piece)
        return self.events.popleft()

    def _feed(self, piece: bytes | None) -> None:
        try:
            if piece is None:
                self.parser.finalize()
                if self.parser.state.name != "END":
                    raise InvalidInput("malformed multipart/form-data body: it ends mid-part")
            else:
                self.parser.write(piece)
        except MultipartParseError as exc:
            raise InvalidInput(f"malformed multipart/form-data body: {exc}") from None

    async def parts(self) -> AsyncIterator[Part]:
        """Every part in order; a part its consumer did not read is skipped."""
        while True:
            if self.current is not None and not self.current.consumed:
                async for _ in self.current.stream():
                    pass
            event = await self.next_event()
            while event is not None and event[0] != "begin":
                event = await self.next_event()
            if event is None:
                return
            headers: dict[bytes, bytes] = {}
            while (event := await self.next_event()) is not None and event[0] == "header":
                key, _, value = event[1].partition(b"\0")
                headers[key.lower()] = value
            if event is not None:
                self.events.appendleft(event)  # the first data (or the end) of this part
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            filename = options.get(b"filename")
            self.current = Part(
                name=options.get(b"name", b"").decode("utf-8", "replace"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
                content_type=headers.get(b"content-type", b"").decode("latin-1").strip(),
                reader=self,
            )
            yield self.current
