"""Strict RFC 9110 media types, in one place for every front end and every download.

A declared file type ends up in a `Content-Type` response header, so anything a header cannot
carry (line breaks, non-ASCII, stray separators) is refused when it comes in, and a stored value
that slipped through before (an older record) falls back to application/octet-stream.
"""

from __future__ import annotations

import mimetypes
import re

from upslice.errors import InvalidInput

DEFAULT = "application/octet-stream"
MAX_LENGTH = 255

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_PARAMETER = rf"[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?"
# type "/" subtype *( OWS ";" OWS [ parameter ] ), RFC 9110 section 8.3.1 (ASCII only)
MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:{_PARAMETER})*", re.ASCII)


def is_valid(value: str) -> bool:
    return len(value) <= MAX_LENGTH and MEDIA_TYPE.fullmatch(value) is not None


def checked(value: str, field: str) -> str:
    """`value` when it is a media type a header can carry, else a 400 that names `field`."""
    if not is_valid(value):
        raise InvalidInput(
            f"{field} must be a media type such as 'image/png' (RFC 9110 type/subtype with "
            f"optional ;parameters, ASCII, at most {MAX_LENGTH} characters), not {value!r}",
            field=field,
        )
    return value


def safe(value: str | None) -> str:
    """A stored type fit for a `Content-Type` header, whatever was stored."""
    return value if value and is_valid(value) else DEFAULT


def guess(filename: str) -> str:
    """The type a file name suggests, for clients that send none (flow.js, form parts)."""
    return mimetypes.guess_type(filename)[0] or DEFAULT
