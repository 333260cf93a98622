"""Background expiry: unfinished uploads past their expiry lose their bytes and records.

Every worker and node runs this loop; the `sweeper` lease lets one of them sweep at a time. The
first pass runs at startup, so completions a crash left half done are finished at once.
"""

from __future__ import annotations

import asyncio
import logging

from upslice.engine import Engine

log = logging.getLogger("upslice.sweeper")


async def sweep_forever(engine: Engine, interval: float) -> None:
    while True:
        try:
            await engine.sweep()
        except Exception:  # a failed sweep must not stop the next one
            log.exception("expiry sweep failed")
        await asyncio.sleep(interval)
