"""Byte sizes as people write them: `1048576`, `512k`, `5M`, `5MiB`, `5MB`, `1.5GiB`.

One rule everywhere (server settings, environment variables, CLI flags): the multiples are
binary, so `5M`, `5MB` and `5MiB` all mean 5 * 1024 * 1024 bytes, the unit the progress
bars and listings print.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
UNITS = " kmgt"


def parse_size(text: str) -> int:
    """Bytes in `text`; ValueError naming the accepted forms otherwise."""
    match = SIZE.match(text)
    if match is None or (match[3] and not match[2] and match[3].lower() != "b"):
        raise ValueError(f"{text!r} is not a size like 1048576, 512KiB, 5M or 5MB")
    return int(float(match[1]) * 1024 ** UNITS.index(match[2].lower() or " "))


def coerce_size(value: Any) -> Any:
    """For pydantic: strings are parsed as sizes, everything else is left to int validation."""
    return parse_size(value) if isinstance(value, str) else value


ByteSize = Annotated[int, BeforeValidator(coerce_size)]


def human(n: float) -> str:
    """`n` bytes in binary units, as the CLI prints them everywhere (B, KiB, MiB, GiB, TiB)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
