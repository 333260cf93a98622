"""Log lines as text or one JSON object per line, each naming its request and upload.

The request id and upload id come from `logcontext`; a filter on the handler copies them into
every record, uvicorn's own lines included (uvicorn is told to leave logging to us).
"""

from __future__ import annotations

import logging
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from upslice import logcontext

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"
JSON_FIELDS = ("levelname", "name", "process", "message", "request_id", "upload_id")
NOT_IN_JSON = ("context", "color_message")  # the text suffix; uvicorn's ANSI copy
LogFormat = Literal["text", "json"]


class ContextFilter(logging.Filter):
    """Adds `request_id`, `upload_id` (None outside a request) and a text `context` suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request_id", None) or logcontext.request_id.get()
        upload = getattr(record, "upload_id", None) or logcontext.upload_id.get()
        parts = [f"request={request}"] if request else []
        if upload:
            parts.append(f"upload={upload}")
        record.__dict__.update(
            request_id=request, upload_id=upload, context=f" [{' '.join(parts)}]" if parts else ""
        )
        return True


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            list(JSON_FIELDS),
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            reserved_attrs=[*RESERVED_ATTRS, *NOT_IN_JSON],
            timestamp="time",
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """One handler on the root logger; every upslice and uvicorn line goes through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
